/* Reading one chunk of a CSV import file: lines cut into fields as Python's csv module cuts
 * them, each row checked by row_line (_native_rules.c) or handed to Python (copy_rows). */
#include "_native.h"

/* The first comma or double quote in q..end, or end. With SSE2, 16 bytes at a time. */
static const unsigned char *comma_or_quote(const unsigned char *q, const unsigned char *end) {
#ifdef USE_SSE2
    const __m128i comma = _mm_set1_epi8(','), quote = _mm_set1_epi8('"');
    for (; end - q >= 16; q += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)q);
        unsigned hits = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, comma), _mm_cmpeq_epi8(v, quote)));
        if (hits) return q + __builtin_ctz(hits);
    }
#endif
    while (q < end && *q != ',' && *q != '"') q++;
    return q;
}

/* Whether p..end holds a control character (below 0x20, or 0x7F). */
static int has_control(const unsigned char *p, const unsigned char *end) {
#ifdef USE_SSE2
    const __m128i below = _mm_set1_epi8(0x1F), del = _mm_set1_epi8(0x7F);
    for (; end - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i low = _mm_cmpeq_epi8(_mm_max_epu8(v, below), below); /* v <= 0x1F */
        if (_mm_movemask_epi8(_mm_or_si128(low, _mm_cmpeq_epi8(v, del)))) return 1;
    }
#endif
    for (; p < end; p++)
        if (*p < 0x20 || *p == 0x7F) return 1;
    return 0;
}

/* Split one line into exactly the fields Python's csv module reads from it, unquoted into
 * ``scratch``. Returns the number of fields (more than NCOLS are counted, not kept), 0 for
 * a row with a control character (for Python to judge), -1 when the line is outside what this
 * reader is sure of (the whole chunk then goes to Python), -2 on error. */
static int split_line(const unsigned char *p, const unsigned char *end, buf_t *scratch,
                      val_t *v) {
    const unsigned char *line = p;
    const unsigned char *starts[NCOLS + 1];
    Py_ssize_t lengths[NCOLS + 1];
    int count = 0;
    scratch->n = 0;
    if (buf_reserve(scratch, (size_t)(end - p)) < 0) return -2;
    unsigned char *w = scratch->p; /* unquoted copies of fields with "" inside */
    for (;;) {
        const unsigned char *start;
        Py_ssize_t length;
        if (p < end && *p == '"') {
            p++;
            const unsigned char *q = memchr(p, '"', (size_t)(end - p));
            if (q == NULL) return -1; /* the quoted field goes on past the line */
            if (q + 1 < end && q[1] == '"') {
                /* a doubled quote: the field is copied without its escapes */
                start = w;
                for (;;) {
                    memcpy(w, p, (size_t)(q - p));
                    w += q - p;
                    p = q + 1;
                    if (p < end && *p == '"') {
                        *w++ = '"';
                        p++;
                        q = memchr(p, '"', (size_t)(end - p));
                        if (q == NULL) return -1;
                        continue;
                    }
                    break;
                }
                length = w - start;
            } else {
                start = p;
                length = q - p;
                p = q + 1;
            }
            if (p < end && *p != ',') return -1; /* text after the closing quote */
        } else {
            const unsigned char *q = comma_or_quote(p, end);
            if (q < end && *q == '"') return -1;
            start = p;
            length = q - p;
            p = q;
        }
        if (count <= NCOLS) {
            starts[count] = start;
            lengths[count] = length;
        }
        count++;
        if (p >= end) break;
        p++; /* the comma */
    }
    if (count == NCOLS) {
        /* A control character can only be in a field (it is not a comma or a quote): a line
         * without one needs no look at each field for it. */
        int control = has_control(line, end);
        for (int k = 0; k < NCOLS; k++) {
            const unsigned char *s = starts[k];
            Py_ssize_t n = lengths[k];
            if (control)
                for (Py_ssize_t i = 0; i < n; i++)
                    if (s[i] < 0x20 || s[i] == 0x7F) return 0; /* Python's to clean or refuse */
            while (n && s[0] == ' ') { s++; n--; }
            while (n && s[n - 1] == ' ') n--;
            v[k].s = s;
            v[k].n = n;
        }
    }
    return count;
}

const char copy_rows_doc[] = PyDoc_STR(
"copy_rows(data, tables, today, first_year, tail, judge, max_line)\n"
"-> (copy, ids, good, ends, rows) | None\n\n"
"COPY lines of a CSV chunk's rows (header: registry.record.COLUMNS). A row not certainly\n"
"valid is passed to judge(row_number, line) -> bytes | None (its COPY line, or None for a\n"
"reject). good and ends are packed C longs (array('l')): the row numbers of the lines and\n"
"where each ends in copy. None: the chunk needs Python's reader.");

PyObject *copy_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "copy_rows takes 7 arguments");
        return NULL;
    }
    Py_buffer data, tables_view;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) return NULL;
    if (PyObject_GetBuffer(args[1], &tables_view, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *result = NULL;
    buf_t copy = {0}, ids = {0}, good = {0}, ends = {0}, scratch = {0}, fold = {0};
    long today = PyLong_AsLong(args[2]);
    long first_year = PyLong_AsLong(args[3]);
    Py_ssize_t max_line = PyLong_AsSsize_t(args[6]);
    char *tail;
    Py_ssize_t tail_n;
    PyObject *judge = args[5];
    if (PyErr_Occurred() || PyBytes_AsStringAndSize(args[4], &tail, &tail_n) < 0) goto done;
    if (tables_view.len != TABLES_SIZE) {
        PyErr_SetString(PyExc_ValueError, "tables has the wrong size");
        goto done;
    }
    const unsigned char *tb = tables_view.buf;
    tables_t t = {tb, tb + TABLE, tb + 2 * TABLE, tb + 2 * TABLE + 1000};
    const unsigned char *p = data.buf, *end = p + data.len;
    /* A first pass: every line must be one row this reader is sure of. */
    for (const unsigned char *q = p; q < end;) {
        const unsigned char *nl = memchr(q, '\n', (size_t)(end - q));
        const unsigned char *line_end = nl ? nl : end;
        if (line_end > q && line_end[-1] == '\r') line_end--; /* a CRLF line end */
        if (line_end - q > max_line || memchr(q, '\r', (size_t)(line_end - q)) != NULL) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        q = nl ? nl + 1 : end;
    }
    long row = 0;
    val_t v[NCOLS];
    seen_t seen = {.lo = data.buf, .hi = end};
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *line_end = nl ? nl : end;
        const unsigned char *next = nl ? nl + 1 : end;
        if (line_end > p && line_end[-1] == '\r') line_end--;
        row++;
        int fields = p == line_end ? 0 : split_line(p, line_end, &scratch, v);
        if (fields == -2) goto done;
        if (fields == -1) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        size_t before = copy.n;
        int ok = fields == NCOLS ? row_line(&t, v, today, first_year, &copy, &fold, &seen) : 0;
        if (ok < 0) goto done;
        if (ok) {
            if (buf_put(&copy, tail, (size_t)tail_n) < 0) goto done;
        } else {
            PyObject *line = PyObject_CallFunction(judge, "ly#", row, p, (Py_ssize_t)(next - p));
            if (line == NULL) goto done;
            if (line == Py_None) {
                Py_DECREF(line);
                p = next;
                continue;
            }
            char *s;
            Py_ssize_t n;
            if (PyBytes_AsStringAndSize(line, &s, &n) < 0 || n < 12
                || buf_put(&copy, s, (size_t)n) < 0) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "judge: short line");
                Py_DECREF(line);
                goto done;
            }
            Py_DECREF(line);
        }
        long at = (long)copy.n;
        if (buf_put(&ids, copy.p + before, 12) < 0 || buf_put(&good, &row, sizeof row) < 0
            || buf_put(&ends, &at, sizeof at) < 0)
            goto done;
        p = next;
    }
    result = Py_BuildValue("y#y#y#y#l", copy.p ? (char *)copy.p : "", (Py_ssize_t)copy.n,
                           ids.p ? (char *)ids.p : "", (Py_ssize_t)ids.n,
                           good.p ? (char *)good.p : "", (Py_ssize_t)good.n,
                           ends.p ? (char *)ends.p : "", (Py_ssize_t)ends.n, row);
done:
    free(copy.p); free(ids.p); free(good.p); free(ends.p); free(scratch.p); free(fold.p);
    PyBuffer_Release(&data);
    PyBuffer_Release(&tables_view);
    return result;
}
