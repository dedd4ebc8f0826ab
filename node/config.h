/*
 * DIR/apagon.conf: INI, one section per link.
 *
 *   # comments start with '#' or ';' (whole lines only)
 *   [mqtt site1]
 *   host = 127.0.0.1
 *   port = 1883                 # optional in fact: 1883, or 8883 with tls-ca
 *   username = relay            # optional
 *   password-file = mqtt.pass   # optional; relative paths are from DIR
 *   tls-ca = /etc/ssl/site.pem  # optional: TLS, verifying the broker against it
 *   keepalive = 30              # optional, seconds, 5..3600
 *
 * Section kinds come from one table (config.c), so "[lora NAME]" and
 * "[bluetooth NAME]" are one row each when their transports exist. Several sections of
 * one kind may stand together; a kind and name pair names one link.
 *
 * The parser is line-at-a-time and pure (no I/O in conf_parse), as wireguard-tools'
 * config.c. Every error names the file and line: "apagon.conf:7: unknown key 'prot' in
 * [mqtt site1]; expected one of host, port, ...". A file with any error is refused as
 * a whole, so a daemon never runs half a configuration.
 */
#ifndef APAGON_CONFIG_H
#define APAGON_CONFIG_H

#include <stddef.h>

#define CONF_FILE       "apagon.conf"
#define CONF_FILE_MAX   (64 << 10)      /* bytes: a config is a few lines */
#define CONF_LINE_MAX   1024
#define CONF_NAME_MAX   32              /* section names and keys */
#define CONF_VAL_MAX    255
#define CONF_SECTIONS_MAX 32
#define CONF_KEYS_MAX   16
#define CONF_ERRORS_MAX 20              /* then "too many errors" */

struct conf;
struct conf_section;

/*
 * Parse `len` bytes of config text; `file` names it in errors. On success *out is a
 * new config (0 returned). On failure *out is NULL and -EINVAL (errors in the file:
 * `err` gets one "file:line: message" line per error, NUL-terminated) or -ENOMEM is
 * returned. `err` may be NULL.
 */
int conf_parse(struct conf **out, const char *file, const char *text, size_t len,
    char *err, size_t errcap);

/*
 * Read and parse `path`. A missing file is an empty configuration (no links), and
 * *missing (may be NULL) is set. Relative paths inside resolve against the file's
 * directory. -errno when the file cannot be read, else as conf_parse.
 */
int conf_load(struct conf **out, const char *path, int *missing, char *err, size_t errcap);

void conf_free(struct conf *);

/* The sections, in file order. */
int conf_count(const struct conf *);
const struct conf_section *conf_at(const struct conf *, int i);

const char *conf_kind(const struct conf_section *);     /* "mqtt" */
const char *conf_name(const struct conf_section *);     /* "site1" */
int conf_line(const struct conf_section *);
/* The value of `key`, or NULL when the section does not set it. */
const char *conf_get(const struct conf_section *, const char *key);
/* An integer key (already range-checked by the parser), or `def` when absent. */
long conf_get_int(const struct conf_section *, const char *key, long def);
/* A path key, made absolute against the config file's directory. 0, -ENOENT when
 * absent, -ENAMETOOLONG. */
int conf_get_path(const struct conf_section *, const char *key, char *out, size_t cap);
/* 1 if two sections have the same kind, name and settings: a reload keeps the link. */
int conf_same(const struct conf_section *, const struct conf_section *);

#endif
