/* Wan's prompt cleaning before tokenisation (wan/modules/tokenizers.py, clean='whitespace'):
 * ftfy.fix_text, html.unescape twice, strip, whitespace runs -> one space, strip.
 *
 * Of ftfy's fixes, the ones that matter for prompts are done here: curly quotes -> straight,
 * full-width ASCII forms (U+FF01..U+FF5E, as in Chinese punctuation "，") -> half-width, the
 * ideographic space -> space, control characters removed. Not done (documented gaps): NFC
 * composition of decomposed accents and mojibake repair. */
#ifndef WAN22_TEXT_CLEAN_H
#define WAN22_TEXT_CLEAN_H

#include "runtime/err.h"

/* Returns a malloc'd cleaned copy of text (UTF-8; invalid bytes become U+FFFD). */
wr_status wan22_text_clean(const char *text, char **out);

#endif
