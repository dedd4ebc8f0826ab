/* The table of transports, by config section kind (transport.h). */
#include "transport.h"

#include <string.h>

static const struct transport_ops *const transports[] = {
	&transport_mqtt_ops,
	&transport_bt_ops,
	&transport_lora_ops,
};

const struct transport_ops *
transport_find(const char *kind)
{
	for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++)
		if (strcmp(transports[i]->name, kind) == 0)
			return transports[i];
	return NULL;
}
