#include "mesh.h"

const char *
mesh_reason_name(int err)
{
	switch (err) {
	case MESH_OK:         return "ok";
	case MESH_ESIZE:      return "size";
	case MESH_EDECODE:    return "decode";
	case MESH_ENETWORK:   return "network";
	case MESH_ESIGNATURE: return "signature";
	case MESH_EUNKNOWN:   return "unknown-sender";
	case MESH_ECHAIN:     return "certificate";
	case MESH_EEXPIRED:   return "expired";
	case MESH_EREVOKED:   return "revoked";
	case MESH_EQUOTA:     return "quota";
	case MESH_EDUPLICATE: return "duplicate";
	case MESH_ESTORE:     return "store";
	case MESH_ENOMEM:     return "memory";
	case MESH_EINVAL:     return "invalid";
	case MESH_ENOTFOUND:  return "not-found";
	case MESH_EAMBIGUOUS: return "ambiguous";
	case MESH_ENOPREKEY:  return "no-prekey";
	case MESH_EDECRYPT:   return "decrypt";
	case MESH_ESCHEMA:    return "schema";
	case MESH_ETOOBIG:    return "too-big";
	}
	return "unknown";
}

const char *
mesh_strerror(int err)
{
	switch (err) {
	case MESH_OK:         return "success";
	case MESH_ESIZE:      return "bundle size out of range";
	case MESH_EDECODE:    return "malformed bundle";
	case MESH_ENETWORK:   return "bundle belongs to another network";
	case MESH_ESIGNATURE: return "signature does not verify";
	case MESH_EUNKNOWN:   return "sender has no known certificate (import their export first)";
	case MESH_ECHAIN:     return "certificate chain is not valid for this network";
	case MESH_EEXPIRED:   return "certificate or bundle has expired";
	case MESH_EREVOKED:   return "sender or its issuer is revoked";
	case MESH_EQUOTA:     return "store quota reached";
	case MESH_EDUPLICATE: return "already held";
	case MESH_ESTORE:     return "store (SQLite) error";
	case MESH_ENOMEM:     return "out of memory";
	case MESH_EINVAL:     return "invalid argument";
	case MESH_ENOTFOUND:  return "not found";
	case MESH_EAMBIGUOUS: return "name matches more than one member";
	case MESH_ENOPREKEY:  return "no current prekey for the recipient (import their export first)";
	case MESH_EDECRYPT:   return "message addressed to us does not decrypt";
	case MESH_ESCHEMA:    return "store was written by a newer apagon";
	case MESH_ETOOBIG:    return "text too long for one bundle";
	}
	return "unknown error";
}
