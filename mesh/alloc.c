/*
 * Growing arrays, for the decoders and sessions that collect an unknown number of
 * items from a peer: one doubling rule, with the overflow check in one place.
 */
#include "mesh.h"

#include <stdint.h>
#include <stdlib.h>

int
mesh_grow(void **p, size_t *cap, size_t need, size_t size, size_t first)
{
	size_t ncap = *cap ? *cap : first;
	void *np;

	if (need <= *cap)
		return 0;
	if (ncap == 0)
		ncap = 1;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -1;
		ncap *= 2;
	}
	if (size && ncap > SIZE_MAX / size)
		return -1;
	if (!(np = realloc(*p, ncap * size)))
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}
