/* progress.c: the progress line (progress.h). */
#include "common/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "common/clock.h"

progress_style progress_style_for_stderr(int quiet) {
    return quiet ? PROGRESS_NONE : isatty(STDERR_FILENO) ? PROGRESS_BAR : PROGRESS_LOG;
}

static double interval(progress_style style) { return style == PROGRESS_BAR ? 0.5 : 10; }

void progress_start(progress *p, progress_style style, const char *label) {
    *p = (progress){.style = style, .label = label, .started = now_seconds()};
    p->next_report = p->started + interval(style);
}

void progress_report(progress *p, double fraction, const char *detail, int final) {
    const double t = now_seconds();
    if (p->style == PROGRESS_NONE || (!final && t < p->next_report)) return;
    if (final && p->style == PROGRESS_LOG && !p->reported) return;
    p->reported = 1;
    p->next_report = t + interval(p->style);
    char where[64] = "";
    if (fraction >= 0 && fraction <= 1) {
        const double elapsed = t - p->started, eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
        snprintf(where, sizeof where, " %5.1f%%  ETA %d:%02d", 100 * fraction, (int)eta / 60, (int)eta % 60);
    }
    const int bar = p->style == PROGRESS_BAR;
    fprintf(stderr, "%s%s: %s%s%s", bar ? "\r" : "", p->label, detail, where, bar && !final ? "   " : "\n");
}
