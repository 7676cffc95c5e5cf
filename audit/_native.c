/*
 * Verify's and the sequencer's hot loop in C: RFC 9162 leaf and node hashing over rows streamed
 * by PostgreSQL.
 *
 * leaf_rows() reads one COPY ... (FORMAT binary) stream of log rows (the columns of
 * tree_repository.LEAF_COPY_COLUMNS), renders each event exactly as audit.events.leaf_bytes does,
 * and hashes it: SHA-256(0x00 || canonical bytes) (RFC 9162 section 2.1.1). A row it cannot render
 * with certainty (NULLs, JSON text that is not in its canonical shape, years outside 1000-9999, a
 * stored hash that is not 32 bytes) or whose hash differs from the stored one is returned as a
 * suspect, and Python judges it with leaf_bytes: every verdict is Python's.
 *
 * leaf_hashes() is the sequencer's: the same rows for events that have no leaf yet (leaf_hash
 * NULL); it returns each row's leaf hash, and as suspects only the rows it cannot render.
 *
 * perfect_root() hashes a power-of-two run of packed leaf hashes level by level,
 * SHA-256(0x01 || left || right) (RFC 9162 section 2.1.1).
 *
 * SHA-256 is OpenSSL's (its one-shot and EVP paths cost more per call than the hash itself).
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED
#include <Python.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#define NCOLS 14
#define HASH 32

enum { C_INDEX, C_HASH, C_UID, C_AT, C_ATYPE, C_AID, C_BEHALF, C_SUBJECT, C_ACTION,
       C_FIELDS, C_PURPOSE, C_OUTCOME, C_REQUEST, C_DETAIL };

typedef struct { const unsigned char *p; int32_t n; } col_t;  /* n < 0: NULL */

typedef struct { unsigned char *p; size_t n, cap; } out_t;

static int out_reserve(out_t *o, size_t more) {
    if (o->n + more <= o->cap) return 0;
    size_t cap = o->cap ? o->cap : 1024;
    while (cap < o->n + more) cap *= 2;
    unsigned char *p = realloc(o->p, cap);
    if (!p) return -1;
    o->p = p; o->cap = cap;
    return 0;
}

static inline void put(out_t *o, const void *s, size_t n) { memcpy(o->p + o->n, s, n); o->n += n; }
#define PUTS(o, lit) put((o), (lit), sizeof(lit) - 1)

static inline uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t be64(const unsigned char *p) {
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* A JSON string as Python's json.dumps(ensure_ascii=False) writes it (PostgreSQL text is
 * valid UTF-8 without NUL, so only the ASCII escapes matter). */
static void put_json_string(out_t *o, const unsigned char *s, int32_t n) {
    static const char hex[] = "0123456789abcdef";
    o->p[o->n++] = '"';
    for (int32_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\') { o->p[o->n++] = c; continue; }
        o->p[o->n++] = '\\';
        switch (c) {
        case '"': o->p[o->n++] = '"'; break;
        case '\\': o->p[o->n++] = '\\'; break;
        case '\b': o->p[o->n++] = 'b'; break;
        case '\f': o->p[o->n++] = 'f'; break;
        case '\n': o->p[o->n++] = 'n'; break;
        case '\r': o->p[o->n++] = 'r'; break;
        case '\t': o->p[o->n++] = 't'; break;
        default:
            o->p[o->n++] = 'u'; o->p[o->n++] = '0'; o->p[o->n++] = '0';
            o->p[o->n++] = hex[c >> 4]; o->p[o->n++] = hex[c & 15];
        }
    }
    o->p[o->n++] = '"';
}

static void put_string_or_null(out_t *o, col_t c) {
    if (c.n < 0) PUTS(o, "null"); else put_json_string(o, c.p, c.n);
}

/* A plain JSON string at s[*i]: quotes around bytes that need no escape. json.loads then
 * json.dumps gives it back byte for byte. */
static int scan_plain_string(const unsigned char *s, int32_t n, int32_t *i) {
    if (*i >= n || s[*i] != '"') return 0;
    int32_t j = *i + 1;
    while (j < n && s[j] != '"') {
        if (s[j] < 0x20 || s[j] == '\\') return 0;
        j++;
    }
    if (j >= n) return 0;
    *i = j + 1;
    return 1;
}

/* Stored "fields": a JSON array of plain strings, no spaces (what encode_fields writes). */
static int canonical_fields(col_t c) {
    const unsigned char *s = c.p; int32_t n = c.n, i = 1;
    if (n < 2 || s[0] != '[' || s[n - 1] != ']') return 0;
    if (n == 2) return 1;
    for (;;) {
        if (!scan_plain_string(s, n - 1, &i)) return 0;
        if (i == n - 1) return 1;
        if (s[i++] != ',') return 0;
    }
}

static int bytes_less(const unsigned char *a, int32_t an, const unsigned char *b, int32_t bn) {
    int32_t m = an < bn ? an : bn;
    int r = memcmp(a, b, (size_t)m);
    return r < 0 || (r == 0 && an < bn);
}

/* Stored "detail": a JSON object with keys in strictly increasing order (UTF-8 byte order is
 * code point order, as sort_keys sorts) and values that are plain strings, true, false, null
 * or integers without leading zeros, no spaces (what encode_detail writes). */
static int canonical_detail(col_t c) {
    const unsigned char *s = c.p; int32_t n = c.n, i = 1;
    const unsigned char *prev = NULL; int32_t prev_n = 0;
    if (n < 2 || s[0] != '{' || s[n - 1] != '}') return 0;
    if (n == 2) return 1;
    n -= 1;  /* the closing brace */
    for (;;) {
        int32_t k = i;
        if (!scan_plain_string(s, n, &i)) return 0;
        if (prev && !bytes_less(prev, prev_n, s + k, i - k)) return 0;
        prev = s + k; prev_n = i - k;
        if (i >= n || s[i++] != ':') return 0;
        if (i >= n) return 0;
        if (s[i] == '"') {
            if (!scan_plain_string(s, n, &i)) return 0;
        } else if (n - i >= 4 && !memcmp(s + i, "true", 4)) { i += 4;
        } else if (n - i >= 5 && !memcmp(s + i, "false", 5)) { i += 5;
        } else if (n - i >= 4 && !memcmp(s + i, "null", 4)) { i += 4;
        } else {
            int32_t d = i;
            if (s[i] == '-') i++;
            if (i >= n || s[i] < '0' || s[i] > '9') return 0;
            if (s[i] == '0') {
                i++;
                if (s[d] == '-') return 0;  /* "-0" loads as 0 */
            } else {
                int digits = 0;
                while (i < n && s[i] >= '0' && s[i] <= '9') { i++; digits++; }
                if (digits > 16) return 0;  /* leave big numbers to Python */
            }
        }
        if (i == n) return 1;
        if (s[i++] != ',') return 0;
    }
}

static void put_uint(out_t *o, uint64_t v) {
    char tmp[24]; int k = 0;
    do { tmp[k++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (k) o->p[o->n++] = (unsigned char)tmp[--k];
}

static void put_digits(out_t *o, int64_t v, int width) {
    for (int k = width - 1; k >= 0; k--) { o->p[o->n + k] = (unsigned char)('0' + v % 10); v /= 10; }
    o->n += (size_t)width;
}

/* PostgreSQL timestamptz (microseconds since 2000-01-01 UTC) as format_instant spells it,
 * YYYY-MM-DDTHH:MM:SS.ffffffZ; 0 for years it leaves to Python. */
static int put_instant(out_t *o, int64_t us) {
    const int64_t day_us = 86400000000LL;
    int64_t days = us / day_us, rem = us % day_us;
    if (rem < 0) { rem += day_us; days -= 1; }
    /* days since 1970-01-01, then H. Hinnant's civil_from_days */
    int64_t z = days + 10957 + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y += 1;
    if (y < 1000 || y > 9999) return 0;
    int64_t secs = rem / 1000000, frac = rem % 1000000;
    o->p[o->n++] = '"';
    put_digits(o, y, 4); o->p[o->n++] = '-';
    put_digits(o, m, 2); o->p[o->n++] = '-';
    put_digits(o, d, 2); o->p[o->n++] = 'T';
    put_digits(o, secs / 3600, 2); o->p[o->n++] = ':';
    put_digits(o, secs / 60 % 60, 2); o->p[o->n++] = ':';
    put_digits(o, secs % 60, 2); o->p[o->n++] = '.';
    put_digits(o, frac, 6);
    PUTS(o, "Z\"");
    return 1;
}

/* The leaf data of one row, after a 0x00 prefix, into o (emptied first); 0 if Python must
 * render it. Key order is json.dumps(sort_keys=True)'s. */
static int render(out_t *o, const col_t *c) {
    static const int required[] = { C_INDEX, C_UID, C_AT, C_ATYPE, C_AID, C_ACTION, C_FIELDS,
                                    C_OUTCOME };
    for (size_t k = 0; k < sizeof required / sizeof *required; k++)
        if (c[required[k]].n < 0) return 0;
    if (c[C_INDEX].n != 8 || c[C_AT].n != 8) return 0;
    int64_t index = (int64_t)be64(c[C_INDEX].p);
    if (index < 0) return 0;
    if (!canonical_fields(c[C_FIELDS])) return 0;
    if (c[C_DETAIL].n >= 0 && !canonical_detail(c[C_DETAIL])) return 0;
    size_t need = 256;  /* keys, punctuation, numbers and the instant */
    for (int k = 0; k < NCOLS; k++) if (c[k].n > 0) need += 6 * (size_t)c[k].n;
    o->n = 0;
    if (out_reserve(o, need)) return -1;
    o->p[o->n++] = 0x00;
    PUTS(o, "{\"action\":"); put_json_string(o, c[C_ACTION].p, c[C_ACTION].n);
    PUTS(o, ",\"actor\":{\"id\":"); put_json_string(o, c[C_AID].p, c[C_AID].n);
    PUTS(o, ",\"on_behalf_of\":"); put_string_or_null(o, c[C_BEHALF]);
    PUTS(o, ",\"type\":"); put_json_string(o, c[C_ATYPE].p, c[C_ATYPE].n);
    PUTS(o, "},\"detail\":");
    if (c[C_DETAIL].n < 0) PUTS(o, "null"); else put(o, c[C_DETAIL].p, (size_t)c[C_DETAIL].n);
    PUTS(o, ",\"event_uid\":"); put_json_string(o, c[C_UID].p, c[C_UID].n);
    PUTS(o, ",\"fields\":"); put(o, c[C_FIELDS].p, (size_t)c[C_FIELDS].n);
    PUTS(o, ",\"leaf_index\":"); put_uint(o, (uint64_t)index);
    PUTS(o, ",\"occurred_at\":");
    if (!put_instant(o, (int64_t)be64(c[C_AT].p))) return 0;
    PUTS(o, ",\"outcome\":"); put_json_string(o, c[C_OUTCOME].p, c[C_OUTCOME].n);
    PUTS(o, ",\"purpose\":"); put_string_or_null(o, c[C_PURPOSE]);
    PUTS(o, ",\"request_id\":"); put_string_or_null(o, c[C_REQUEST]);
    PUTS(o, ",\"subject\":"); put_string_or_null(o, c[C_SUBJECT]);
    PUTS(o, ",\"v\":1}");
    return 1;
}

static const unsigned char COPY_SIGNATURE[11] = "PGCOPY\n\377\r\n";

typedef struct {
    int64_t *indexes;
    unsigned char *hashes;
    Py_ssize_t *suspects;
    Py_ssize_t rows, nsuspects, cap;
    out_t line;
    int keep_lines;       /* for tests: the rendered lines, empty where Python must render */
    int fresh;            /* rows without a leaf yet: a suspect is a row it cannot render */
    out_t lines;
    Py_ssize_t *line_end;
    const char *error;
} scan_t;

static int grow(scan_t *s) {
    Py_ssize_t cap = s->cap ? s->cap * 2 : 4096;
    int64_t *ix = realloc(s->indexes, (size_t)cap * sizeof *ix);
    if (ix) s->indexes = ix;
    unsigned char *h = realloc(s->hashes, (size_t)cap * HASH);
    if (h) s->hashes = h;
    Py_ssize_t *su = realloc(s->suspects, (size_t)cap * sizeof *su);
    if (su) s->suspects = su;
    Py_ssize_t *le = s->keep_lines ? realloc(s->line_end, (size_t)cap * sizeof *le) : s->line_end;
    if (le) s->line_end = le;
    if (!ix || !h || !su || (s->keep_lines && !le)) return -1;
    s->cap = cap;
    return 0;
}

/* A binary COPY stream (PostgreSQL manual, COPY, "Binary Format"): signature, flags, header
 * extension, then rows of length-prefixed fields (-1 for NULL), then a -1 field count. */
typedef struct { const unsigned char *p; Py_ssize_t n, at; const char *error; } reader_t;

static int reader_open(reader_t *r, const unsigned char *p, Py_ssize_t n) {
    r->p = p; r->n = n; r->at = 0; r->error = NULL;
    if (n < 19 || memcmp(p, COPY_SIGNATURE, 11) != 0) { r->error = "not a binary COPY stream"; return -1; }
    uint32_t ext = be32(p + 15);
    if ((Py_ssize_t)ext > n - 19) { r->error = "truncated COPY header"; return -1; }
    r->at = 19 + (Py_ssize_t)ext;
    return 0;
}

/* The next row's ncols fields into c: 1, or 0 at the end of the stream, or -1. */
static int reader_next(reader_t *r, col_t *c, int ncols) {
    const unsigned char *p = r->p; Py_ssize_t n = r->n, at = r->at;
    if (n - at < 2) { r->error = "truncated COPY stream"; return -1; }
    int16_t fields = (int16_t)((p[at] << 8) | p[at + 1]); at += 2;
    if (fields == -1) {
        if (at != n) { r->error = "data after the end of the COPY stream"; return -1; }
        r->at = at;
        return 0;
    }
    if (fields != ncols) { r->error = "unexpected column count in COPY stream"; return -1; }
    for (int k = 0; k < ncols; k++) {
        if (n - at < 4) { r->error = "truncated COPY row"; return -1; }
        int32_t len = (int32_t)be32(p + at); at += 4;
        if (len < -1 || (len >= 0 && len > n - at)) { r->error = "truncated COPY field"; return -1; }
        c[k].p = p + at; c[k].n = len;
        if (len > 0) at += len;
    }
    r->at = at;
    return 1;
}

/* One log row (the 14 LEAF_COPY_COLUMNS): its index, hash, and suspect flag; no Python object
 * is touched (runs without the GIL). */
static int process(scan_t *s, const col_t *c) {
    if (c[C_INDEX].n != 8) { s->error = "leaf_index is not an 8-byte integer"; return -1; }
    if (s->rows == s->cap && grow(s)) { s->error = "out of memory"; return -1; }
    Py_ssize_t r = s->rows++;
    s->indexes[r] = (int64_t)be64(c[C_INDEX].p);
    unsigned char *h = s->hashes + (size_t)r * HASH;
    int rendered = render(&s->line, c), ok = 0;
    if (rendered < 0) { s->error = "out of memory"; return -1; }
    if (rendered) {
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, s->line.p, s->line.n);
        SHA256_Final(h, &ctx);
        ok = c[C_HASH].n == HASH && memcmp(h, c[C_HASH].p, HASH) == 0;
    } else {
        memset(h, 0, HASH);
    }
    if (s->fresh ? !rendered : !ok) s->suspects[s->nsuspects++] = r;
    if (s->keep_lines) {
        size_t len = rendered ? s->line.n - 1 : 0;
        if (out_reserve(&s->lines, len)) { s->error = "out of memory"; return -1; }
        if (len) put(&s->lines, s->line.p + 1, len);
        s->line_end[r] = (Py_ssize_t)s->lines.n;
    }
    return 0;
}

static void scan(scan_t *s, const unsigned char *p, Py_ssize_t n) {
    reader_t rd;
    col_t c[NCOLS];
    if (reader_open(&rd, p, n)) { s->error = rd.error; return; }
    int got;
    while ((got = reader_next(&rd, c, NCOLS)) == 1)
        if (process(s, c)) return;
    if (got < 0) s->error = rd.error;
}

/* The join of a chunk of leaves (leaf_index, event_id, leaf_hash) with the event rows (id and
 * the 12 event columns of LEAF_COPY_COLUMNS) of the ids they name, by an open-addressing table
 * of event ids. A leaf whose event is absent, NULL or present twice gets NULL event columns, so
 * it is a suspect that Python judges. */
#define EVENT_COLS 13
typedef struct { int64_t id; Py_ssize_t at; int count; } slot_t;

static void scan_joined(scan_t *s, const unsigned char *lp, Py_ssize_t ln,
                        const unsigned char *ep, Py_ssize_t en) {
    reader_t rd;
    col_t ev[EVENT_COLS], lf[3], c[NCOLS];
    int got;
    /* The events: count them, then fill a table twice their number (a power of two). */
    if (reader_open(&rd, ep, en)) { s->error = rd.error; return; }
    Py_ssize_t events = 0;
    while ((got = reader_next(&rd, ev, EVENT_COLS)) == 1) events++;
    if (got < 0) { s->error = rd.error; return; }
    size_t cap = 16;
    while (cap < 2 * (size_t)events) cap *= 2;
    slot_t *table = calloc(cap, sizeof *table);
    if (!table) { s->error = "out of memory"; return; }
    reader_open(&rd, ep, en);
    for (;;) {
        Py_ssize_t at = rd.at;
        if (reader_next(&rd, ev, EVENT_COLS) != 1) break;
        if (ev[0].n != 8) continue;  /* a NULL id names no event */
        int64_t id = (int64_t)be64(ev[0].p);
        size_t k = ((uint64_t)id * 0x9E3779B97F4A7C15ULL) & (cap - 1);
        while (table[k].count && table[k].id != id) k = (k + 1) & (cap - 1);
        table[k].id = id; table[k].at = at; table[k].count++;
    }
    if (reader_open(&rd, lp, ln)) { s->error = rd.error; free(table); return; }
    while ((got = reader_next(&rd, lf, 3)) == 1) {
        c[C_INDEX] = lf[0];
        c[C_HASH] = lf[2];
        for (int k = C_UID; k < NCOLS; k++) { c[k].p = NULL; c[k].n = -1; }
        if (lf[1].n == 8) {
            int64_t id = (int64_t)be64(lf[1].p);
            size_t k = ((uint64_t)id * 0x9E3779B97F4A7C15ULL) & (cap - 1);
            while (table[k].count && table[k].id != id) k = (k + 1) & (cap - 1);
            if (table[k].count == 1) {
                reader_t row = { ep, en, table[k].at, NULL };
                reader_next(&row, ev, EVENT_COLS);  /* read once already */
                for (int j = 1; j < EVENT_COLS; j++) c[C_UID + j - 1] = ev[j];
            }
        }
        if (process(s, c)) { free(table); return; }
    }
    if (got < 0) s->error = rd.error;
    free(table);
}

static void scan_free(scan_t *s) {
    free(s->indexes); free(s->hashes); free(s->suspects); free(s->line.p);
    free(s->lines.p); free(s->line_end);
}

static PyObject *run_scan(PyObject *arg, PyObject *events, int keep_lines, int fresh) {
    Py_buffer view, ev;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (events && PyObject_GetBuffer(events, &ev, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    scan_t s = {0};
    s.keep_lines = keep_lines;
    s.fresh = fresh;
    Py_BEGIN_ALLOW_THREADS
    if (events) scan_joined(&s, view.buf, view.len, ev.buf, ev.len);
    else scan(&s, view.buf, view.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (events) PyBuffer_Release(&ev);
    PyObject *result = NULL;
    if (s.error) {
        PyErr_SetString(PyExc_ValueError, s.error);
        goto done;
    }
    if (keep_lines) {
        result = PyList_New(s.rows);
        if (!result) goto done;
        Py_ssize_t start = 0;
        for (Py_ssize_t r = 0; r < s.rows; r++) {
            PyObject *line = PyBytes_FromStringAndSize((const char *)s.lines.p + start,
                                                       s.line_end[r] - start);
            if (!line) { Py_CLEAR(result); goto done; }
            PyList_SET_ITEM(result, r, line);
            start = s.line_end[r];
        }
        goto done;
    }
    int contiguous = 1;
    for (Py_ssize_t r = 1; r < s.rows; r++)
        if (s.indexes[r] != s.indexes[0] + r) { contiguous = 0; break; }
    PyObject *indexes = NULL, *hashes = NULL, *suspects = NULL;
    if (contiguous) {
        indexes = Py_None; Py_INCREF(Py_None);
    } else {
        indexes = PyList_New(s.rows);
        for (Py_ssize_t r = 0; indexes && r < s.rows; r++) {
            PyObject *v = PyLong_FromLongLong(s.indexes[r]);
            if (!v) { Py_CLEAR(indexes); break; }
            PyList_SET_ITEM(indexes, r, v);
        }
    }
    hashes = PyBytes_FromStringAndSize((const char *)s.hashes, s.rows * HASH);
    suspects = PyList_New(s.nsuspects);
    for (Py_ssize_t k = 0; suspects && k < s.nsuspects; k++) {
        PyObject *v = PyLong_FromSsize_t(s.suspects[k]);
        if (!v) { Py_CLEAR(suspects); break; }
        PyList_SET_ITEM(suspects, k, v);
    }
    if (indexes && hashes && suspects)
        result = Py_BuildValue("(nLOOO)", s.rows, s.rows ? (long long)s.indexes[0] : 0LL,
                               indexes, hashes, suspects);
    Py_XDECREF(indexes); Py_XDECREF(hashes); Py_XDECREF(suspects);
done:
    scan_free(&s);
    return result;
}

PyDoc_STRVAR(leaf_rows_doc,
"leaf_rows(copy) -> (count, first_index, indexes or None, hashes, suspects)\n\n"
"Hash every row of a binary COPY stream of log rows. ``indexes`` is None when the leaf\n"
"indexes are first_index, first_index + 1, ...; ``hashes`` packs one 32-byte leaf hash per\n"
"row (zeros for suspects); ``suspects`` lists the rows Python must judge.");

static PyObject *leaf_rows(PyObject *self, PyObject *arg) { return run_scan(arg, NULL, 0, 0); }

PyDoc_STRVAR(leaf_rows_joined_doc,
"leaf_rows_joined(leaves, events) -> as leaf_rows\n\n"
"leaf_rows over the join of a binary COPY stream of leaves (leaf_index, event_id, leaf_hash)\n"
"with one of the events they name (id, then the event columns of LEAF_COPY_COLUMNS).");

static PyObject *leaf_rows_joined(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "leaf_rows_joined(leaves, events)");
        return NULL;
    }
    return run_scan(args[0], args[1], 0, 0);
}

PyDoc_STRVAR(leaf_lines_doc,
"leaf_lines(copy) -> list[bytes]\n\n"
"The canonical bytes rendered for each row (empty where Python must render), for tests.");

static PyObject *leaf_lines(PyObject *self, PyObject *arg) { return run_scan(arg, NULL, 1, 0); }

PyDoc_STRVAR(leaf_hashes_doc,
"leaf_hashes(copy) -> as leaf_rows, for log rows whose leaf is not written yet\n\n"
"The sequencer's loop: leaf_hash is NULL in every row; ``hashes`` packs each row's leaf hash\n"
"and ``suspects`` lists only the rows it cannot render (zeros in ``hashes``), for Python.");

static PyObject *leaf_hashes(PyObject *self, PyObject *arg) { return run_scan(arg, NULL, 0, 1); }

PyDoc_STRVAR(perfect_root_doc,
"perfect_root(packed) -> bytes\n\n"
"RFC 9162 root of a perfect subtree given its leaf hashes packed, a power of two of them.");

static PyObject *perfect_root(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t count = view.len / HASH;
    if (view.len % HASH || count == 0 || (count & (count - 1))) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "need a power of two of 32-byte hashes");
        return NULL;
    }
    unsigned char *work = malloc((size_t)view.len);
    if (!work) { PyBuffer_Release(&view); return PyErr_NoMemory(); }
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *src = view.buf;
    unsigned char block[1 + 2 * HASH];
    block[0] = 0x01;
    for (Py_ssize_t width = count; width > 1; width /= 2) {
        for (Py_ssize_t i = 0; i < width / 2; i++) {
            memcpy(block + 1, src + (size_t)(2 * i) * HASH, 2 * HASH);
            SHA256_CTX ctx;
            SHA256_Init(&ctx);
            SHA256_Update(&ctx, block, sizeof block);
            SHA256_Final(work + (size_t)i * HASH, &ctx);
        }
        src = work;
    }
    if (count == 1) memcpy(work, src, HASH);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *root = PyBytes_FromStringAndSize((const char *)work, HASH);
    free(work);
    return root;
}

static PyMethodDef methods[] = {
    {"leaf_rows", leaf_rows, METH_O, leaf_rows_doc},
    {"leaf_rows_joined", (PyCFunction)(void (*)(void))leaf_rows_joined, METH_FASTCALL,
     leaf_rows_joined_doc},
    {"leaf_lines", leaf_lines, METH_O, leaf_lines_doc},
    {"leaf_hashes", leaf_hashes, METH_O, leaf_hashes_doc},
    {"perfect_root", perfect_root, METH_O, perfect_root_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "audit._native",
    "Verify's hot loop: leaf rendering and hashing, perfect subtree roots (RFC 9162 2.1.1).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
