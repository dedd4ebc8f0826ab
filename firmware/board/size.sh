#!/bin/sh
# Print the size of each firmware image and check it against the modem's budget.
#
#   size.sh FLASH_MAX RAM_MAX IMAGE.elf...
#
# Flash is what the image stores (text, including the vector table and rodata, plus
# the initial values of .data); RAM is what it occupies at run time (.data, .bss and
# the reserved stack, which the linker script counts as .bss). Exit 1 if any image
# is over either budget.
set -eu
flash_max=$1
ram_max=$2
shift 2
arm-none-eabi-size "$@"
status=0
for elf in "$@"; do
	set -- $(arm-none-eabi-size -B "$elf" | awk 'NR == 2 { print $1, $2, $3 }')
	flash=$(($1 + $2))
	ram=$(($2 + $3))
	name=$(basename "$elf" .elf)
	if [ "$flash" -le "$flash_max" ] && [ "$ram" -le "$ram_max" ]; then
		verdict=ok
	else
		verdict="OVER BUDGET"
		status=1
	fi
	echo "firmware: $name flash $flash / $flash_max bytes, RAM $ram / $ram_max bytes (stack included): $verdict"
done
exit $status
