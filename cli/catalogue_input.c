/* catalogue_input.c: the catalogue options of `embed` and `update` (catalogue_input.h). */
#include "catalogue_input.h"

#include <string.h>

#include "cli.h"
#include "model/model.h"
#include "model/provenance.h"

int catalogue_option(const char *cmd, int c, const char *arg, embed_job *job, catalogue_names *names) {
    switch (c) {
    case 'i': job->input = arg; return 0;
    case 'f': names->format = arg; return 0;
    case CAT_O_TEXT_COL: job->in.text_cols = arg; return 0;
    case CAT_O_ID_COL: job->in.id_col = arg; return 0;
    case CAT_O_DELIM:
        if (strlen(arg) != 1) return cli_fail(cmd, "--delimiter wants one character, not '%s'", arg);
        job->in.delimiter = arg[0];
        return 0;
    case CAT_O_NO_HEADER: job->in.no_header = 1; return 0;
    case CAT_O_TOKENIZER: names->tokenizer = arg; return 0;
    case CAT_O_STRICT: job->strict = 1; return 0;
    case CAT_O_DUPLICATE:
        if (dup_policy_parse(arg, &job->on_duplicate))
            return cli_fail(cmd, "--on-duplicate-id wants reject, keep-first or keep-last, not '%s'", arg);
        return 0;
    default: return 1;
    }
}

int catalogue_options_check(const char *cmd, embed_job *job, const catalogue_names *names) {
    if (names->format) {
        if (input_format_parse(names->format, &job->in.format))
            return cli_fail(cmd, "--format wants lines, csv, tsv, jsonl or ids, not '%s'", names->format);
    } else if (input_guess_format(job->input, &job->in.format)) {
        return cli_fail(cmd, "cannot tell the format of '%s' from its name: give --format lines|csv|tsv|jsonl|ids",
                        job->input);
    }
    const int tabular = job->in.format == INPUT_CSV || job->in.format == INPUT_TSV || job->in.format == INPUT_JSONL;
    if (tabular && !job->in.text_cols)
        return cli_fail(cmd, "--format %s needs --text-col naming the text column(s)", input_format_name(job->in.format));
    if (!tabular && (job->in.text_cols || job->in.id_col))
        return cli_fail(cmd, "--text-col and --id-col apply to csv, tsv and jsonl input, not %s",
                        input_format_name(job->in.format));
    if (names->tokenizer && strcmp(names->tokenizer, "spm") && strcmp(names->tokenizer, "tfjs"))
        return cli_fail(cmd, "--tokenizer wants spm or tfjs, not '%s'", names->tokenizer);
    return 0;
}

int catalogue_encoder_open(const char *cmd, const char *model_path, embed_job *job, const catalogue_names *names,
                           const userec_devices *devices, userec_precision precision, userec_model **model,
                           userec_encoder **enc, int *test_weights) {
    userec_error uerr;
    userec_model *m = userec_load(model_path, &uerr);
    if (!m) return cli_failed(cmd, uerr.status, "%s", uerr.message);
    *test_weights = usew_is_test_weights(m->file);
    if (*test_weights) fprintf(stderr, "%s: warning: %s: %s\n", cmd, model_path, USEW_TEST_WEIGHTS_WARNING);
    if (job->in.format != INPUT_IDS) {
        const char *t = names->tokenizer;
        const enum usew_tokenizer kind = !t ? USEW_TOK_NONE : !strcmp(t, "spm") ? USEW_TOK_SPM : USEW_TOK_TFJS;
        if (!(job->tok = model_tokenizer(m, kind, &uerr))) {
            userec_free(m);
            return cli_failed(cmd, uerr.status, "%s", uerr.message);
        }
    }
    if (!(*enc = userec_encoder_open_on(m, devices, precision, stderr, &uerr))) {
        userec_free(m);
        return cli_failed(cmd, uerr.status, "%s", uerr.message);
    }
    *model = m;
    return 0;
}
