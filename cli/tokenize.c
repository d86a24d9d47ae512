/* tokenize.c: `userec tokenize`: print the token ids (or pieces) of texts, one output line per text. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common/error.h"
#include "common/json_string.h"
#include "tokenizer/tokenizer.h"
#include "common/util.h"
#include "model/weights.h"

typedef struct {
    const char *model, *input, *format;
    enum usew_tokenizer kind; /* USEW_TOK_NONE: the model's default */
    int pieces;
    size_t max_ids; /* 0: every token */
} tokenize_options;

typedef struct {
    const tokenizer *tok;
    tok_scratch *scratch;
    int pieces;
    size_t max_ids;
    size_t texts, invalid_texts;
} session;

static void usage(FILE *to) {
    fprintf(to,
            "usage: userec tokenize --model MODEL.usew [--tokenizer spm|tfjs] [--pieces] (--input FILE|- | TEXT...)\n"
            "  --tokenizer spm|tfjs    spm: SentencePiece's ids (what the TF Hub module was fed); tfjs: the npm\n"
            "                          package @tensorflow-models/universal-sentence-encoder's ids (default: the\n"
            "                          model's default tokenizer, spm when it has one)\n"
            "  --input FILE|-          texts from a file or stdin, one per line (see --format)\n"
            "  --format lines|jsonl    lines (default): every line is a text, split on \\n only; a \\r before the\n"
            "                          \\n (CRLF files) and a UTF-8 byte order mark opening the input are not part\n"
            "                          of any text. jsonl: every non-blank line is one JSON string literal, for\n"
            "                          texts holding newlines, tabs or NUL bytes\n"
            "  --pieces                print the pieces instead of the ids: the text each token covers as the\n"
            "                          tokenizer saw it, spaces shown as U+2581; bytes 0x00-0x1F, 0x7F and '\\'\n"
            "                          are written \\xNN and \\\\ so that a text stays on its line\n"
            "  --max-ids N             print only each text's first N ids, reading no more of a long text than they\n"
            "                          need (as embed does with the model's max_len + 1); a text holding one run of\n"
            "                          256 KiB without whitespace before its first N ids is tokenized as its first\n"
            "                          256 KiB, said on stderr (docs/limits.md)\n"
            "  TEXT...                 texts given as arguments, each one text as it is\n"
            "Prints one line per text: its ids separated by spaces (an empty line when it has no tokens).\n"
            "Invalid UTF-8 is read as U+FFFD (spm: per byte, like SentencePiece; tfjs: per maximal bad sequence,\n"
            "like JavaScript's TextDecoder); the number of texts that held some is reported on stderr.\n");
}

static int parse_options(int argc, char **argv, tokenize_options *opt) {
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'}, {"tokenizer", required_argument, 0, 't'},
        {"input", required_argument, 0, 'i'}, {"format", required_argument, 0, 'f'},
        {"pieces", no_argument, 0, 'p'},      {"max-ids", required_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    *opt = (tokenize_options){.format = "lines", .kind = USEW_TOK_NONE};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': opt->model = optarg; break;
        case 'i': opt->input = optarg; break;
        case 'f': opt->format = optarg; break;
        case 'p': opt->pieces = 1; break;
        case 'n':
            if (cli_size_option("tokenize", "--max-ids", optarg, 1, INT32_MAX, &opt->max_ids)) return EXIT_USAGE;
            break;
        case 't':
            if (!strcmp(optarg, "spm")) opt->kind = USEW_TOK_SPM;
            else if (!strcmp(optarg, "tfjs")) opt->kind = USEW_TOK_TFJS;
            else return cli_fail("tokenize", "--tokenizer wants spm or tfjs, not '%s'", optarg);
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (!opt->model) {
        usage(stderr);
        return cli_fail("tokenize", "--model is required");
    }
    if (!opt->input == (optind == argc))
        return cli_fail("tokenize", "give either --input FILE or texts as arguments%s", opt->input ? ", not both" : "");
    if (opt->pieces && opt->max_ids) return cli_fail("tokenize", "--pieces and --max-ids do not go together");
    if (strcmp(opt->format, "lines") && strcmp(opt->format, "jsonl"))
        return cli_fail("tokenize", "--format wants lines or jsonl, not '%s'", opt->format);
    return 0;
}

/* Writes a piece so that it stays on one line and can be read back unambiguously. */
static void print_piece(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\') fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7F) printf("\\x%02X", c);
        else putchar(c);
    }
}

/* Returns 0, or the failure's class (common/error.h) with err set. */
static int tokenize_text(session *s, const char *text, size_t len, char *err, size_t err_len) {
    tok_result r;
    if (s->max_ids ? tokenizer_encode_first(s->tok, text, len, s->max_ids, s->scratch, &r, err, err_len)
                   : tokenizer_encode(s->tok, text, len, s->pieces, s->scratch, &r, err, err_len))
        return USEREC_ERR_NOMEM; /* what the tokenizer fails for */
    if (r.capped_at)
        fprintf(stderr, "userec tokenize: text %zu: no whitespace cut within %zu bytes gave %zu ids; tokenized as its "
                        "first %zu bytes\n", s->texts + 1, (size_t)TOK_FIRST_CAP, s->max_ids, r.capped_at);
    for (size_t i = 0; i < r.n_ids; i++) {
        if (i) putchar(' ');
        if (s->pieces) {
            size_t from = i ? r.piece_end[i - 1] : 0;
            print_piece(r.pieces + from, r.piece_end[i] - from);
        } else {
            printf("%d", r.ids[i]);
        }
    }
    putchar('\n');
    s->texts++;
    s->invalid_texts += (size_t)r.invalid_utf8;
    return 0;
}

/* One jsonl line: a JSON string literal, optionally surrounded by blanks; blank lines hold no text. */
static int tokenize_jsonl_line(session *s, const char *line, size_t len, size_t line_no, byte_buf *text,
                               const char *name, char *err, size_t err_len) {
    const uint8_t *p = (const uint8_t *)line;
    size_t pos = 0;
    while (pos < len && (p[pos] == ' ' || p[pos] == '\t')) pos++;
    if (pos == len) return 0;
    if (p[pos] == '{' || p[pos] == '[')
        return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s:%zu: --format jsonl here means one JSON string (\"...\") "
                                                            "per line, not an object or array", name, line_no));
    char why[256];
    text->len = 0;
    if (json_string_decode(p, len, &pos, text, why, sizeof why))
        return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s:%zu: %s", name, line_no, why));
    while (pos < len && (p[pos] == ' ' || p[pos] == '\t')) pos++;
    if (pos != len)
        return FAIL_AS(USEREC_ERR_FORMAT, ERR(err, err_len, "%s:%zu: text after the JSON string (byte %zu)", name,
                                              line_no, pos));
    return tokenize_text(s, (const char *)text->data, text->len, err, err_len);
}

static int tokenize_file(session *s, const char *path, int jsonl, char *err, size_t err_len) {
    FILE *in = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    if (!in) return FAIL_AS(USEREC_ERR_IO, SYS_ERR(err, err_len, path, "open"));
    char *line = NULL;
    byte_buf decoded = {0};
    size_t line_cap = 0, line_no = 0;
    ssize_t got;
    int rc = 0;
    while (!rc && (got = getline(&line, &line_cap, in)) >= 0) {
        size_t len = (size_t)got;
        const char *text = line;
        if (len && line[len - 1] == '\n') {
            len--;
            if (len && line[len - 1] == '\r') len--;
        }
        if (line_no++ == 0 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) text += 3, len -= 3;
        rc = jsonl ? tokenize_jsonl_line(s, text, len, line_no, &decoded, name, err, err_len)
                   : tokenize_text(s, text, len, err, err_len);
    }
    if (!rc && ferror(in)) rc = FAIL_AS(USEREC_ERR_IO, SYS_ERR(err, err_len, name, "read"));
    free(line);
    free(decoded.data);
    if (in != stdin) fclose(in);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    tokenize_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc) return rc;
    char err[512];
    int io_failed = 0;
    usew_file *f = usew_open(opt.model, &io_failed, err, sizeof err);
    if (!f) return cli_failed("tokenize", io_failed ? USEREC_ERR_IO : USEREC_ERR_FORMAT, "%s", err);
    tokenizer *tok = tokenizer_from_usew(f, opt.kind, err, sizeof err);
    usew_close(f); /* the tokenizer keeps its own copies */
    if (!tok) return cli_failed("tokenize", USEREC_ERR_UNSUPPORTED, "%s", err); /* the model has no such tokenizer */
    session s = {.tok = tok, .scratch = tok_scratch_new(), .pieces = opt.pieces, .max_ids = opt.max_ids};
    if (!s.scratch) {
        tokenizer_free(tok);
        return cli_failed("tokenize", USEREC_ERR_NOMEM, "out of memory");
    }
    if (opt.input) rc = tokenize_file(&s, opt.input, !strcmp(opt.format, "jsonl"), err, sizeof err);
    for (int i = optind; !rc && i < argc; i++) rc = tokenize_text(&s, argv[i], strlen(argv[i]), err, sizeof err);
    if (!rc && fflush(stdout)) rc = FAIL_AS(FAIL_OUTPUT, SYS_ERR(err, sizeof err, "<stdout>", "write"));
    tok_scratch_free(s.scratch);
    tokenizer_free(tok);
    if (rc) return cli_failed("tokenize", rc, "%s", err);
    if (s.invalid_texts)
        fprintf(stderr, "userec tokenize: %zu of %zu texts held invalid UTF-8, read as U+FFFD\n", s.invalid_texts,
                s.texts);
    return 0;
}
