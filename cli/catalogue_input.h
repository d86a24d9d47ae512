/* catalogue_input.h: the options that say how to read a catalogue and turn its rows into tokens, shared by `embed`
 * and `update` (docs/cli.md): --input, --format, --text-col, --id-col, --delimiter, --no-header, --tokenizer,
 * --strict, --on-duplicate-id. A command puts CATALOGUE_LONGOPTS in its getopt_long table and hands every option to
 * catalogue_option first. */
#ifndef USEREC_CLI_CATALOGUE_INPUT_H
#define USEREC_CLI_CATALOGUE_INPUT_H

#include <getopt.h>

#include "jobs/embed_job.h"

enum { CAT_O_TEXT_COL = 400, CAT_O_ID_COL, CAT_O_DELIM, CAT_O_NO_HEADER, CAT_O_TOKENIZER, CAT_O_STRICT, CAT_O_DUPLICATE };

#define CATALOGUE_LONGOPTS                                                                                            \
    {"input", required_argument, 0, 'i'}, {"format", required_argument, 0, 'f'},                                      \
        {"text-col", required_argument, 0, CAT_O_TEXT_COL}, {"id-col", required_argument, 0, CAT_O_ID_COL},           \
        {"delimiter", required_argument, 0, CAT_O_DELIM}, {"no-header", no_argument, 0, CAT_O_NO_HEADER},             \
        {"tokenizer", required_argument, 0, CAT_O_TOKENIZER}, {"strict", no_argument, 0, CAT_O_STRICT},               \
        {"on-duplicate-id", required_argument, 0, CAT_O_DUPLICATE}

/* The usage lines of those options. */
#define CATALOGUE_USAGE                                                                                               \
    "  --format lines|csv|tsv|jsonl|ids   (default: from the extension: .txt .csv .tsv .jsonl/.json .ids;\n"        \
    "                         a gzip-compressed input, FILE.csv.gz say, is read as it is inflated)\n"                 \
    "                         lines: one text per line; ids: space-separated token ids per line\n"                    \
    "  --text-col A[,B..]     csv/tsv/jsonl: the column(s) whose values, joined by spaces, are the text\n"            \
    "  --id-col C             the column holding each row's id (default: the 0-based row number)\n"                   \
    "  --delimiter X          csv field delimiter (default ','; e.g. ';')\n"                                          \
    "  --no-header            csv/tsv without a header row: name columns by number, from 1\n"                         \
    "  --tokenizer spm|tfjs   (default: the model's; spm when it has a SentencePiece model)\n"                        \
    "  --strict               reject rows with invalid UTF-8 instead of repairing them (U+FFFD)\n"                    \
    "  --on-duplicate-id reject|keep-first|keep-last\n"                                                               \
    "                         rows whose id another row has too: reject all of them (default; counted\n"              \
    "                         against --max-reject-rate), or keep the first or last and list the others\n"

typedef struct {
    const char *format, *tokenizer; /* as given */
} catalogue_names;

/* Handles option c (of CATALOGUE_LONGOPTS) into job and names. Returns 1 when c is not one of them, 0 when it was
 * taken, EXIT_USAGE after saying what is wrong. */
int catalogue_option(const char *cmd, int c, const char *arg, embed_job *job, catalogue_names *names);
/* After parsing: the format (given or guessed from the input's name) and the checks between the options. Returns 0
 * or EXIT_USAGE. */
int catalogue_options_check(const char *cmd, embed_job *job, const catalogue_names *names);

/* Loads the model (warning on stderr when it holds the test weights), its tokenizer (unless the input is token ids)
 * into job->tok, and opens the encoder on devices (one encoder each). Returns 0, or the exit code after saying why (nothing is left
 * open then). */
int catalogue_encoder_open(const char *cmd, const char *model_path, embed_job *job, const catalogue_names *names,
                           const userec_devices *devices, userec_precision precision, userec_model **model,
                           userec_encoder **enc, int *test_weights);

#endif
