/* progress.h: the progress line of long jobs (embed, related, bench) on stderr: a line redrawn in place on a
 * terminal, else a log line every 10 s (cron mail and CI logs stay short). */
#ifndef USEREC_PROGRESS_H
#define USEREC_PROGRESS_H

typedef enum { PROGRESS_NONE, PROGRESS_BAR, PROGRESS_LOG } progress_style;

typedef struct {
    progress_style style;
    const char *label; /* "embed", "related" */
    double started, next_report;
    int reported; /* a line was printed */
} progress;

/* PROGRESS_NONE when quiet, else BAR when stderr is a terminal, else LOG. */
progress_style progress_style_for_stderr(int quiet);
void progress_start(progress *p, progress_style style, const char *label);
/* Reports `detail` ("12000 rows, 3 rejected, 840 rows/s") and, when fraction is in [0, 1], the percentage done and
 * the time left; at most every 0.5 s (BAR) or 10 s (LOG). The final report ends a BAR's line; in a log it is
 * printed only after earlier reports (a job shorter than 10 s logs nothing but its summary). */
void progress_report(progress *p, double fraction, const char *detail, int final);

#endif
