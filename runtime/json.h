/* A small, validating JSON parser (RFC 8259) producing a DOM.
 *
 * Used for safetensors headers, model metadata and test data. Strings are decoded to UTF-8
 * (\u escapes with surrogate pairs; lone surrogates and control characters are errors).
 * Numbers are kept as double plus, for integers that fit, an exact int64 (file offsets need
 * all 64 bits). Nesting is limited to WR_JSON_MAX_DEPTH. */
#ifndef WR_JSON_H
#define WR_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/err.h"

#define WR_JSON_MAX_DEPTH 64

typedef enum wr_json_type {
    WR_JSON_NULL,
    WR_JSON_BOOL,
    WR_JSON_NUMBER,
    WR_JSON_STRING,
    WR_JSON_ARRAY,
    WR_JSON_OBJECT,
    WR_JSON_TYPE_COUNT
} wr_json_type;

typedef struct wr_json wr_json;
struct wr_json {
    wr_json_type type;
    bool boolean;
    double number;
    bool is_int;       /* number is an integer that fits int64 exactly */
    int64_t integer;
    char *string;      /* NUL-terminated UTF-8 (may contain embedded NULs: see length) */
    size_t length;     /* string length in bytes */
    size_t count;      /* array items / object members */
    wr_json *items;    /* array items or object values */
    char **keys;       /* object member names (NULL for arrays) */
};

/* Parses text[0, len). `what` names the source in error messages (e.g. "model.safetensors
 * header"). On error returns WR_E_FORMAT with the byte offset and leaves *out zeroed. */
wr_status wr_json_parse(const char *text, size_t len, const char *what, wr_json *out);
/* Accepts a zeroed value. */
void wr_json_free(wr_json *v);

/* Object member by name (first match), NULL when absent or v is not an object. */
const wr_json *wr_json_get(const wr_json *v, const char *key);

#endif
