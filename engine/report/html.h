/* html.h: putting untrusted text (catalogue fields, ids, file names) into an HTML page safely. Every byte of such
 * text goes through html_text: markup characters become entities, so no catalogue string can open a tag, end
 * an attribute or start a script, whatever it holds. */
#ifndef USEREC_HTML_H
#define USEREC_HTML_H

#include <stddef.h>
#include <stdio.h>

/* Writes s as HTML text (also safe inside a double-quoted attribute): & < > " ' as entities; control characters
 * (tab and line breaks included) as spaces; bytes that are not valid UTF-8 as U+FFFD. At most max_chars
 * characters are written (0: all); a longer text ends with an ellipsis. */
void html_text(FILE *f, const char *s, size_t max_chars);

#endif
