/* sort_lines: one batch's COPY lines in key order (see registry.bulk.pipeline.by_number). */
#include "_native.h"

static int line_cmp(const void *a, const void *b) {
    const line_t *x = a, *y = b;
    int c = memcmp(x->key, y->key, SORT_KEY);
    if (c != 0) return c;
    if (x->key_n != y->key_n) return x->key_n < y->key_n ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at; /* the same key: first come, first out */
}

/* index_lines (_native.h): also the index sorted_binary (_native_binary.c) reads lines by. */
line_t *index_lines(PyObject *seq, const char *who, Py_ssize_t *lines, Py_ssize_t *total) {
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    *lines = *total = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        if (!PyBytes_Check(items[k])) {
            PyErr_Format(PyExc_TypeError, "%s: parts must be bytes", who);
            return NULL;
        }
        const char *s = PyBytes_AS_STRING(items[k]);
        Py_ssize_t n = PyBytes_GET_SIZE(items[k]);
        if (n > 0 && s[n - 1] != '\n') {
            PyErr_Format(PyExc_ValueError, "%s: a part does not end with a newline", who);
            return NULL;
        }
        for (const char *q = s; (q = memchr(q, '\n', (size_t)(s + n - q))) != NULL; q++) (*lines)++;
        *total += n;
    }
    line_t *index = PyMem_Malloc((size_t)(*lines ? *lines : 1) * sizeof *index);
    if (index == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t k = 0; k < count; k++) {
        const char *s = PyBytes_AS_STRING(items[k]), *end = s + PyBytes_GET_SIZE(items[k]);
        while (s < end) {
            const char *nl = memchr(s, '\n', (size_t)(end - s));
            line_t *line = &index[at];
            line->n = nl - s + 1;
            line->key_n = line->n - 1 < SORT_KEY ? line->n - 1 : SORT_KEY;
            memset(line->key, 0, SORT_KEY);
            memcpy(line->key, s, (size_t)line->key_n);
            line->at = at;
            line->p = s;
            at++;
            s = nl + 1;
        }
    }
    qsort(index, (size_t)*lines, sizeof *index, line_cmp);
    return index;
}

const char sort_lines_doc[] = PyDoc_STR(
"sort_lines(parts) -> bytes\n\n"
"The lines of ``parts`` (bytes, each empty or ending with a newline) joined in the order of\n"
"their first 12 bytes; lines with the same first 12 bytes keep the order they came in.");

PyObject *sort_lines(PyObject *self, PyObject *parts) {
    PyObject *seq = PySequence_Fast(parts, "sort_lines: parts must be a sequence");
    if (seq == NULL) return NULL;
    Py_ssize_t lines, total;
    PyObject *result = NULL;
    line_t *index = index_lines(seq, "sort_lines", &lines, &total);
    if (index != NULL && (result = PyBytes_FromStringAndSize(NULL, total)) != NULL) {
        char *out = PyBytes_AS_STRING(result);
        for (Py_ssize_t k = 0; k < lines; k++) {
            memcpy(out, index[k].p, (size_t)index[k].n);
            out += index[k].n;
        }
    }
    PyMem_Free(index);
    Py_DECREF(seq);
    return result;
}

