/* html.c: escaping untrusted text for HTML (html.h). */
#include <stdint.h>

#include "common/utf8.h"
#include "report/html.h"

void html_text(FILE *f, const char *s, size_t max_chars) {
    const uint8_t *p = (const uint8_t *)s;
    const size_t n = strlen(s);
    size_t chars = 0;
    for (size_t i = 0; i < n;) {
        if (max_chars && chars == max_chars) {
            fputs("\xE2\x80\xA6", f); /* U+2026 */
            return;
        }
        const size_t len = utf8_sequence_length(p + i, n - i);
        chars++;
        if (!len) { /* not UTF-8: one replacement character per bad byte */
            fputs("\xEF\xBF\xBD", f);
            i++;
            continue;
        }
        const uint8_t c = p[i];
        if (len > 1) fwrite(p + i, 1, len, f);
        else if (c == '&') fputs("&amp;", f);
        else if (c == '<') fputs("&lt;", f);
        else if (c == '>') fputs("&gt;", f);
        else if (c == '"') fputs("&quot;", f);
        else if (c == '\'') fputs("&#39;", f);
        else if (c < 0x20 || c == 0x7F) fputc(' ', f);
        else fputc(c, f);
        i += len;
    }
}
