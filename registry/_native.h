/*
 * What the C files of registry._native share: the column layout, the code lists, buffers, and
 * the functions one file calls in another. Private to them (registry/_native*.c); _native.c says
 * what the module does and which file holds what.
 */
#ifndef REGISTRY_NATIVE_H
#define REGISTRY_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define USE_SSE2 1 /* the 16-byte scans below; elsewhere they go byte by byte */
#endif

/* Only PyInit__native (declared visible by PyMODINIT_FUNC) leaves the shared object. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define NCOLS 38
#define MAX_NAME 100
#define TABLE 0x2000 /* code points covered by the letter tables (Vietnamese ends at U+1EF9) */
#define TABLES_SIZE (2 * TABLE + 1000 + 100)

enum { K_UPPER = 1, K_LOWER = 2 };

/* The input columns, in registry.record.COLUMNS order. */
enum {
    I_ID, I_NAME, I_OTHER, I_BIRTH, I_GENDER, I_PROVINCE, I_BIRTH_PLACE, I_HOMETOWN, I_ETHNICITY,
    I_RELIGION, I_NATIONALITY, I_MARITAL, I_BLOOD, I_PERMANENT, I_TEMPORARY, I_CURRENT,
    I_HOUSEHOLD, I_RELATIONSHIP, I_RELATIVES, /* 4 x (id, name, nationality) */
    I_STATUS = I_RELATIVES + 12, I_DEATH, I_MISSING, I_CARD, I_CARD_ISSUED, I_CARD_PLACE,
    I_CARD_EXPIRY, I_OLD,
};

/* The code lists the checks are written against (_native_codes.c). The module exports them
 * (ASSUMES), and registry.bulk.pipeline uses it only while they equal registry.record's and
 * models' own. Each is defined with as many entries as declared here, or the build fails. */
#define NSTORED 40
#define NTEXT 8
extern const char *const COLUMN_NAMES[NCOLS];
extern const char *const STORED_NAMES[NSTORED];
extern const int TEXT_COLS[NTEXT];
extern const int TEXT_LIMITS[NTEXT];
extern const char *const GENDERS[2];
extern const char *const MARITAL[4];
extern const char *const BLOOD[8];
extern const char *const STATUSES[3];
enum { SINGLE, MARRIED };        /* MARITAL[0], MARITAL[1] */
enum { ALIVE, DECEASED, MISSING }; /* STATUSES[...] */
#define COUNT(a) ((int)(sizeof(a) / sizeof *(a)))

typedef struct {
    const unsigned char *kind;     /* [TABLE]: K_UPPER, K_LOWER or 0 */
    const unsigned char *fold;     /* [TABLE]: the folded ASCII letter of each letter */
    const unsigned char *province; /* [1000]: 1 for a province code */
    const unsigned char *ethnic;   /* [100]: 1 for an ethnic group code */
} tables_t;

/* A growing buffer; a fixed one writes into memory it does not own (a bytes object) and
 * never grows: running out of it is a bug, reported as SystemError. */
typedef struct { unsigned char *p; size_t n, cap; int fixed; } buf_t;

static inline int buf_reserve(buf_t *b, size_t more) {
    if (b->n + more <= b->cap) return 0;
    if (b->fixed) {
        PyErr_SetString(PyExc_SystemError, "_native: a fixed buffer overflowed");
        return -1;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more) cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (p == NULL) { PyErr_NoMemory(); return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_put(buf_t *b, const void *s, size_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

typedef struct { const unsigned char *s; Py_ssize_t n; } val_t; /* n == 0: absent */

static inline int digits(const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static inline int num(const unsigned char *s, int n) {
    int x = 0;
    for (int i = 0; i < n; i++) x = x * 10 + (s[i] - '0');
    return x;
}

/* Values of the rows before that passed the slow checks (text_ok, name_ok), to be passed again
 * without checking when a row repeats them byte for byte. The members of a household follow
 * each other in a file and share their addresses, hometown and parents' names; checking those
 * code point by code point was most of a worker's time. Only values in the chunk's own bytes
 * are kept (``lo``..``hi``), which stay put for the whole chunk. */
typedef struct {
    const unsigned char *lo, *hi;
    val_t text[NTEXT];
    val_t names[4]; /* each relative's name */
} seen_t;

/* Check one row's values and append its COPY line (without the tail) to ``o``.
 * 1: written; 0: not certainly valid (``o`` is left as it was); -1: error (_native_rules.c). */
int row_line(const tables_t *t, val_t *v, long today, long first_year, buf_t *o, buf_t *fold,
             seen_t *seen);

#define SORT_KEY 12 /* a line's key: its first 12 bytes, the ID number */

/* A line and a copy of its key, so that comparing two lines reads only the index. */
typedef struct {
    char key[SORT_KEY]; /* zero-padded when the line is shorter; key_n then orders */
    Py_ssize_t key_n, n, at;
    const char *p;
} line_t;

/* The lines of ``parts`` (a sequence of bytes, each empty or ending with a newline), indexed
 * and sorted by key; *lines and *total (bytes) are set. NULL with an exception on bad input
 * (_native_sort.c). */
line_t *index_lines(PyObject *seq, const char *who, Py_ssize_t *lines, Py_ssize_t *total);

/* The module's functions and their doc strings: copy_rows (_native_csv.c), sort_lines
 * (_native_sort.c), binary_copy and sorted_binary (_native_binary.c). */
PyObject *copy_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sort_lines(PyObject *self, PyObject *parts);
PyObject *binary_copy(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
PyObject *sorted_binary(PyObject *self, PyObject *const *args, Py_ssize_t nargs);
extern const char copy_rows_doc[], sort_lines_doc[], binary_copy_doc[], sorted_binary_doc[];

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
