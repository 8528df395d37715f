/* Recipe files for `wanrt run`: the whole workflow as one text file.
 *
 *   # comments
 *   out = final.mp4            top-level keys: out, threads, device
 *   [generate]                 one section per stage, in workflow order
 *   high-noise = "models/wan2.2_i2v_high_noise_14B_Q8_0.gguf"
 *   lora = "lightx2v.safetensors:3.0@high"   (repeat a key to repeat the flag)
 *   ensemble = true            true: the bare flag; false: left out
 *
 * Each `key = value` in [stage] is the command-line flag --key value of `wanrt stage`, so a
 * recipe is the command lines written down and nothing has to be learned twice. The syntax is
 * the key/value/section subset of TOML (strings in double quotes with \" and \\ escapes; bare
 * values also accepted), which needs no parser library. */
#ifndef WR_CLI_RECIPE_H
#define WR_CLI_RECIPE_H

#include "runtime/err.h"

#define RECIPE_MAX_STAGES 8
#define RECIPE_MAX_KEYS 64

typedef struct recipe_kv {
    char *key, *value;
    int line;
} recipe_kv;

typedef struct recipe_section {
    char *name; /* "" for the top level */
    int line;
    recipe_kv kv[RECIPE_MAX_KEYS];
    int n;
} recipe_section;

typedef struct recipe {
    recipe_section sec[RECIPE_MAX_STAGES + 1]; /* sec[0] is the top level */
    int n;
    char *text; /* owns every string above */
} recipe;

/* Parses path; errors name the file and line. */
wr_status recipe_load(recipe *r, const char *path);
wr_status recipe_parse(recipe *r, const char *name, const char *text);
void recipe_free(recipe *r);

const recipe_section *recipe_find(const recipe *r, const char *name);
/* The last value of key in s, or NULL. */
const char *recipe_get(const recipe_section *s, const char *key);

#endif
