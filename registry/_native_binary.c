/* COPY binary format (https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4):
 * binary_copy turns COPY text lines into binary tuples, and sorted_binary sorts and turns them
 * in one pass. */
#include "_native.h"

static int put_be32(buf_t *o, int32_t v) {
    unsigned char b[4] = {(unsigned char)((uint32_t)v >> 24), (unsigned char)((uint32_t)v >> 16),
                          (unsigned char)((uint32_t)v >> 8), (unsigned char)v};
    return buf_put(o, b, 4);
}

/* PostgreSQL's date2j, and its epoch (2000-01-01) as a Julian day. */
static int32_t date2j(int year, int month, int day) {
    if (month > 2) { month += 1; year += 4800; } else { month += 13; year += 4799; }
    int century = year / 100;
    int julian = year * 365 - 32167;
    julian += year / 4 - century + century / 4;
    julian += 7834 * month / 256 + day;
    return julian;
}
#define POSTGRES_EPOCH_JDATE 2451545

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One text-format field s[0..n) as PostgreSQL's COPY reads it, unescaped into o (length first);
 * ``escaped``: whether it holds a backslash. */
static int put_text_field(buf_t *o, const unsigned char *s, Py_ssize_t n, int escaped) {
    if (!escaped) return put_be32(o, (int32_t)n) < 0 ? -1 : buf_put(o, s, (size_t)n);
    size_t at = o->n;
    if (put_be32(o, 0) < 0 || buf_reserve(o, (size_t)n) < 0) return -1;
    unsigned char *out = o->p + o->n;
    Py_ssize_t i = 0, k = 0;
    while (i < n) {
        unsigned char c = s[i++];
        if (c == '\\' && i < n) {
            c = s[i++];
            if (c >= '0' && c <= '7') {
                int v = c - '0';
                for (int d = 0; d < 2 && i < n && s[i] >= '0' && s[i] <= '7'; d++) v = v * 8 + (s[i++] - '0');
                c = (unsigned char)v;
            } else if (c == 'x' && i < n && hexval(s[i]) >= 0) {
                int v = hexval(s[i++]);
                if (i < n && hexval(s[i]) >= 0) v = v * 16 + hexval(s[i++]);
                c = (unsigned char)v;
            } else {
                switch (c) {
                case 'b': c = '\b'; break;
                case 'f': c = '\f'; break;
                case 'n': c = '\n'; break;
                case 'r': c = '\r'; break;
                case 't': c = '\t'; break;
                case 'v': c = '\v'; break;
                default: break; /* any other character stands for itself */
                }
            }
        }
        out[k++] = c;
    }
    o->n += (size_t)k;
    unsigned char *len = o->p + at;
    len[0] = (unsigned char)(k >> 24); len[1] = (unsigned char)(k >> 16);
    len[2] = (unsigned char)(k >> 8); len[3] = (unsigned char)k;
    return 0;
}

static int put_binary_field(buf_t *o, char kind, const unsigned char *s, Py_ssize_t n,
                            int escaped) {
    if (n == 2 && s[0] == '\\' && s[1] == 'N') return put_be32(o, -1); /* NULL */
    if (kind == 't') return put_text_field(o, s, n, escaped);
    if (kind == 'd') {
        if (n != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) ||
            !digits(s + 8, 2))
            return 1;
        int year = num(s, 4), month = num(s + 5, 2), day = num(s + 8, 2);
        static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        if (year < 1 || month < 1 || month > 12 || day < 1 || day > month_days[month - 1] ||
            (month == 2 && day == 29 && !leap))
            return 1; /* what the text form would have been refused for */
        int32_t days = date2j(year, month, day) - POSTGRES_EPOCH_JDATE;
        return put_be32(o, 4) < 0 ? -1 : put_be32(o, days);
    }
    /* 'i' (int4) or 'l' (int8): an optional minus and 1 to 18 digits */
    Py_ssize_t i = n > 0 && s[0] == '-';
    if (n - i < 1 || n - i > 18 || !digits(s + i, (int)(n - i))) return 1;
    long long v = 0;
    for (Py_ssize_t k = i; k < n; k++) v = v * 10 + (s[k] - '0');
    if (i) v = -v;
    if (kind == 'i') {
        if (v < INT32_MIN || v > INT32_MAX) return 1;
        return put_be32(o, 4) < 0 ? -1 : put_be32(o, (int32_t)v);
    }
    if (put_be32(o, 8) < 0) return -1;
    return put_be32(o, (int32_t)((unsigned long long)v >> 32)) < 0 ? -1 : put_be32(o, (int32_t)(v & 0xffffffff));
}

/* Where the fields of the line p[0..len) end (each tab, then len) into ends[], and whether each
 * holds a backslash into esc[]; returns how many fields there are, or max + 1 when there are
 * more than max. With SSE2, 16 bytes are looked at a time: a field is 12 bytes on average,
 * and going byte by byte was half of a batch's conversion. */
static Py_ssize_t split_fields(const unsigned char *p, Py_ssize_t len, Py_ssize_t max,
                               Py_ssize_t *ends, unsigned char *esc) {
    Py_ssize_t count = 0, i = 0;
    int seen = 0; /* a backslash in the field so far */
#ifdef USE_SSE2
    const __m128i tab = _mm_set1_epi8('\t'), backslash = _mm_set1_epi8('\\');
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        unsigned tabs = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, tab));
        unsigned slashes = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, backslash));
        while (tabs) {
            unsigned k = (unsigned)__builtin_ctz(tabs), below = (1u << k) - 1;
            if (count == max) return max + 1;
            ends[count] = i + k;
            esc[count++] = (unsigned char)(seen | ((slashes & below) != 0));
            seen = 0;
            slashes &= ~below; /* the field just ended had those */
            tabs &= tabs - 1;
        }
        seen |= slashes != 0;
    }
#endif
    for (; i < len; i++) {
        if (p[i] == '\t') {
            if (count == max) return max + 1;
            ends[count] = i;
            esc[count++] = (unsigned char)seen;
            seen = 0;
        } else {
            seen |= p[i] == '\\';
        }
    }
    if (count == max) return max + 1;
    ends[count] = len;
    esc[count++] = (unsigned char)seen;
    return count;
}

/* Room for split_fields' results on a line of ``ncols`` columns. */
typedef struct { Py_ssize_t *ends; unsigned char *esc; } fields_t;

static int fields_alloc(fields_t *f, Py_ssize_t ncols) {
    f->ends = PyMem_Malloc((size_t)(ncols + 1) * sizeof *f->ends);
    f->esc = PyMem_Malloc((size_t)(ncols + 1));
    if (f->ends != NULL && f->esc != NULL) return 0;
    PyErr_NoMemory();
    return -1;
}

static void fields_free(fields_t *f) {
    PyMem_Free(f->ends);
    PyMem_Free(f->esc);
}

/* One COPY text line p[0..nl) (nl: its newline) as a binary tuple of ``ncols`` columns of
 * ``kinds``; -1 with an exception (``line_no`` names the line). */
static int put_binary_line(buf_t *o, const unsigned char *p, const unsigned char *nl,
                           const char *kinds, Py_ssize_t ncols, Py_ssize_t line_no,
                           fields_t *f) {
    if (split_fields(p, nl - p, ncols, f->ends, f->esc) != ncols) {
        PyErr_Format(PyExc_ValueError, "binary_copy: line %zd has not %zd columns", line_no,
                     ncols);
        return -1;
    }
    unsigned char count[2] = {(unsigned char)(ncols >> 8), (unsigned char)ncols};
    if (buf_reserve(o, (size_t)(nl - p) + 2 + 12 * (size_t)ncols) < 0 || buf_put(o, count, 2) < 0)
        return -1;
    Py_ssize_t start = 0;
    for (Py_ssize_t col = 0; col < ncols; col++) {
        int bad = put_binary_field(o, kinds[col], p + start, f->ends[col] - start, f->esc[col]);
        if (bad < 0) return -1;
        if (bad) {
            PyErr_Format(PyExc_ValueError, "binary_copy: line %zd, column %zd is not a %c",
                         line_no, col + 1, kinds[col]);
            return -1;
        }
        start = f->ends[col] + 1;
    }
    return 0;
}

static int kinds_ok(PyObject *kinds) {
    const char *k = PyBytes_AS_STRING(kinds);
    Py_ssize_t n = PyBytes_GET_SIZE(kinds);
    if (n >= 1 && n <= 1600 && strspn(k, "tdil") == (size_t)n) return 1;
    PyErr_SetString(PyExc_ValueError, "binary_copy: kinds must be letters t, d, i or l");
    return 0;
}

const char binary_copy_doc[] = PyDoc_STR(
"binary_copy(text, kinds) -> bytes\n\n"
"COPY text-format lines (each ending with a newline) as COPY binary-format tuples (without the\n"
"file's header and trailer). ``kinds`` has one letter per column: t text, d date\n"
"(YYYY-MM-DD), i int4, l int8. ValueError when a line has another number of columns or a\n"
"value that is not of its kind.");

PyObject *binary_copy(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "binary_copy(text: bytes, kinds: bytes)");
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    const unsigned char *end = p + PyBytes_GET_SIZE(args[0]);
    if (!kinds_ok(args[1])) return NULL;
    if (end > p && end[-1] != '\n') {
        PyErr_SetString(PyExc_ValueError, "binary_copy: the text does not end with a newline");
        return NULL;
    }
    buf_t o = {0};
    fields_t f = {0};
    PyObject *result = NULL;
    Py_ssize_t ncols = PyBytes_GET_SIZE(args[1]);
    if (fields_alloc(&f, ncols) < 0 ||
        buf_reserve(&o, (size_t)(end - p) + (size_t)(end - p) / 4 + 64) < 0)
        goto done;
    for (Py_ssize_t line_no = 1; p < end; line_no++) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        if (put_binary_line(&o, p, nl, PyBytes_AS_STRING(args[1]), ncols, line_no, &f) < 0)
            goto done;
        p = nl + 1;
    }
    result = PyBytes_FromStringAndSize((const char *)o.p, (Py_ssize_t)o.n);
done:
    fields_free(&f);
    free(o.p);
    return result;
}

/* sorted_binary reads a batch's lines in key order, so from all over its 5 MB: each line is
 * fetched this many lines ahead of its turn, which saves the importer CPU
 * (docs/performance.md, "Sorted batches"). */
#define PREFETCH_AHEAD 4

const char sorted_binary_doc[] = PyDoc_STR(
"sorted_binary(parts, kinds) -> bytes\n\n"
"binary_copy(sort_lines(parts), kinds) in one pass, written straight into the result: the\n"
"lines of ``parts`` in the order of their first 12 bytes (ties in the order given) as COPY\n"
"binary-format tuples. The same errors as both; a line is numbered by its sorted place.");

PyObject *sorted_binary(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "sorted_binary(parts: Sequence[bytes], kinds: bytes)");
        return NULL;
    }
    if (!kinds_ok(args[1])) return NULL;
    const char *kinds = PyBytes_AS_STRING(args[1]);
    Py_ssize_t ncols = PyBytes_GET_SIZE(args[1]);
    PyObject *seq = PySequence_Fast(args[0], "sorted_binary: parts must be a sequence");
    if (seq == NULL) return NULL;
    Py_ssize_t lines, total;
    PyObject *result = NULL;
    fields_t f = {0};
    line_t *index = index_lines(seq, "sorted_binary", &lines, &total);
    if (index == NULL || fields_alloc(&f, ncols) < 0) goto done;
    /* A field of n bytes and its tab becomes its length (4) and at most max(n, 8) bytes (an
     * int8 or a date from fewer digits): at most 12 bytes more; each tuple starts with 2. */
    if (lines > (PY_SSIZE_T_MAX - total) / (2 + 12 * ncols)) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t bound = total + lines * (2 + 12 * ncols);
    result = PyBytes_FromStringAndSize(NULL, bound);
    if (result == NULL) goto done;
    buf_t o = {(unsigned char *)PyBytes_AS_STRING(result), 0, (size_t)bound, 1};
    for (Py_ssize_t k = 0; k < lines; k++) {
        const unsigned char *p = (const unsigned char *)index[k].p;
#if defined(__GNUC__)
        if (k + PREFETCH_AHEAD < lines)
            for (Py_ssize_t at = 0; at < index[k + PREFETCH_AHEAD].n; at += 64)
                __builtin_prefetch(index[k + PREFETCH_AHEAD].p + at);
#endif
        if (put_binary_line(&o, p, p + index[k].n - 1, kinds, ncols, k + 1, &f) < 0) {
            Py_CLEAR(result);
            goto done;
        }
    }
    _PyBytes_Resize(&result, (Py_ssize_t)o.n);
done:
    fields_free(&f);
    PyMem_Free(index);
    Py_DECREF(seq);
    return result;
}
