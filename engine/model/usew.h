/* usew.h: the on-disk layout of a .usew weight file (format version 1).
 *
 * One flat little-endian file, mmap-able as is:
 *   [header: 256 bytes][tensor table: n_tensors x 128-byte records][data, every tensor 64-byte aligned]
 * Every byte of the file is covered by a CRC-32 (zlib/IEEE polynomial, so Python's zlib.crc32 computes it):
 * the header by header_crc32, the table by table_crc32, each tensor's bytes by its record's crc32.
 * Tokenizer payload and provenance are stored as named uint8 tensors in the same table (see docs/format.md).
 * This header is the contract between tools/convert.py (writer) and engine/weights.c (reader). */
#ifndef USEREC_USEW_H
#define USEREC_USEW_H

#include <stdint.h>

#define USEW_MAGIC "USEW\x89\r\n\x1a" /* 8 bytes; the \r\n\x1a catch text-mode mangling, like PNG */
#define USEW_MAGIC_BYTES 8
#define USEW_VERSION 1
#define USEW_HEADER_BYTES 256
#define USEW_RECORD_BYTES 128
#define USEW_NAME_BYTES 80 /* NUL-padded; a name is at most 79 bytes */
#define USEW_ALIGN 64
#define USEW_MAX_LAYERS 8
#define USEW_MAX_DIMS 4

enum usew_dtype { USEW_F32 = 0, USEW_F16 = 1, USEW_BF16 = 2, USEW_I32 = 3, USEW_U8 = 4 };

enum usew_pooling { USEW_POOL_MEAN = 0 }; /* sum over valid positions / max(T, 1) */

enum usew_tokenizer { USEW_TOK_NONE = 0, USEW_TOK_SPM = 1, USEW_TOK_TFJS = 2 };

/* Architecture quirks of USE-lite (SPEC 1), explicit so that an engine refuses what it does not implement. */
enum usew_flags {
    USEW_F_PRE_LN = 1u << 0,           /* LayerNorm before attention and FFN, no final LayerNorm */
    USEW_F_EMB_TWICE = 1u << 1,        /* x0 = 2*E + PE: the graph adds the embedding to (embedding + timing) */
    USEW_F_TIMING_SIGNAL = 1u << 2,    /* tensor2tensor sinusoid: concat(sin(p*inv), cos(p*inv)) */
    USEW_F_L0_RESIDUAL_PROJ = 1u << 3, /* layer 0 residual is x0 . Wd + bd (width change), not x0 */
    USEW_F_TANH_HEAD = 1u << 4,        /* y = tanh(pooled . Wt + bt) */
    USEW_F_L2_NORMALIZE = 1u << 5,     /* out = y / sqrt(max(sum y^2, l2_floor)) */
};
#define USEW_F_KNOWN 0x3Fu

/* SentencePiece NormalizerSpec switches (meaningful when tok.spm.* tensors are present). */
enum usew_normalizer_flags {
    USEW_N_ADD_DUMMY_PREFIX = 1u << 0,
    USEW_N_REMOVE_EXTRA_WHITESPACES = 1u << 1,
    USEW_N_ESCAPE_WHITESPACES = 1u << 2,
};

/* Byte offsets inside the 256-byte header. All integers are uint32 unless noted. */
enum usew_header_offsets {
    USEW_H_MAGIC = 0,               /* char[8] */
    USEW_H_VERSION = 8,
    USEW_H_HEADER_BYTES = 12,       /* = 256 */
    USEW_H_FILE_BYTES = 16,         /* uint64: exact file size */
    USEW_H_TABLE_OFFSET = 24,       /* uint64: = 256 */
    USEW_H_N_TENSORS = 32,
    USEW_H_TABLE_CRC32 = 36,        /* CRC-32 of the n_tensors*128 table bytes */
    USEW_H_N_LAYERS = 40,
    USEW_H_D_MODEL = 44,            /* output width of every layer (512) */
    USEW_H_N_HEADS = 48,
    USEW_H_D_FFN = 52,
    USEW_H_VOCAB_ROWS = 56,         /* rows of embed.table (8002); valid ids are 0..vocab_rows-1 */
    USEW_H_N_PIECES = 60,           /* tokenizer vocabulary size (8000), 0 without a tokenizer */
    USEW_H_MAX_LEN = 64,            /* positions kept per sentence (128); later ids are dropped */
    USEW_H_POOLING = 68,            /* enum usew_pooling */
    USEW_H_FLAGS = 72,              /* enum usew_flags */
    USEW_H_DEFAULT_TOKENIZER = 76,  /* enum usew_tokenizer */
    USEW_H_NORMALIZER_FLAGS = 80,   /* enum usew_normalizer_flags */
    USEW_H_LN_EPS = 84,             /* float32 (1e-6) */
    USEW_H_L2_FLOOR = 88,           /* float32 (1e-12) */
    USEW_H_UNK_ID = 92,             /* id of <unk> (0) */
    USEW_H_LAYER_WIDTH = 96,        /* uint32[8]: input width of layer i (256, 512); unused entries 0 */
    USEW_H_RESERVED = 128,          /* zero up to the CRC */
    USEW_H_HEADER_CRC32 = 252,      /* CRC-32 of header bytes 0..251 */
};

/* Byte offsets inside one 128-byte tensor record. */
enum usew_record_offsets {
    USEW_R_NAME = 0,     /* char[80], NUL-terminated and NUL-padded */
    USEW_R_DTYPE = 80,   /* enum usew_dtype */
    USEW_R_NDIM = 84,    /* 0..4 */
    USEW_R_SHAPE = 88,   /* uint32[4], unused dims 0 */
    USEW_R_OFFSET = 104, /* uint64: absolute file offset, multiple of 64 */
    USEW_R_NBYTES = 112, /* uint64: = product(shape) * dtype size */
    USEW_R_CRC32 = 120,  /* CRC-32 of the tensor's nbytes */
    USEW_R_RESERVED = 124,
};

#endif
