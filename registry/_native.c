/*
 * Bulk import's row check in C: the fast path for CSV rows that are certainly valid.
 *
 * copy_rows() reads one chunk of a CSV file whose header is registry.record.COLUMNS. For each
 * row it can prove valid under registry/record.py's rules it writes the row's COPY line
 * exactly as registry.bulk.pipeline writes parse_strings' result. It proves only the usual
 * shape: values that need no cleaning (no control characters, no inner double spaces, text of
 * ASCII and the precomposed Vietnamese letters of registry.names), names already in stored
 * form, ID numbers of 12 ASCII digits, dates written YYYY-MM-DD (YYYY-MM and YYYY for a birth
 * date), and every cross-check passing. Any other row is handed to Python (``judge``), which
 * reads and validates it exactly as the pure-Python path does: every reject and every reason
 * is Python's, and C only ever says "valid, and here is the line" when Python would too
 * (tests/registry/test_native_rows.py checks both directions on generated and hostile rows).
 *
 * Lines end with LF or CRLF. A chunk it cannot cut into one row per line with certainty (a
 * carriage return elsewhere, a quote that does not enclose a whole field, a line longer than
 * the reader's limit) is refused whole (None), and Python reads all of it.
 *
 * sort_lines() puts a batch's lines in ID-number order; binary_copy() turns them into COPY's
 * binary format, which PostgreSQL loads with less CPU than the text form (no tabs to find,
 * escapes to undo, or dates and numbers to parse); sorted_binary() does both at once.
 *
 * The module is built from these files (setup.py), which share the private header _native.h:
 *
 *   _native_csv.c     copy_rows: one chunk of a CSV import file read row by row
 *   _native_rules.c   the record rules each row is checked against, and its COPY line
 *   _native_codes.c   the columns and code lists those rules are written against (ASSUMES)
 *   _native_sort.c    sort_lines: a batch's COPY lines in ID-number order
 *   _native_binary.c  binary_copy and sorted_binary: COPY's binary format
 *   _native.c         the module: its functions and ASSUMES
 */
#include "_native.h"

static PyMethodDef methods[] = {
    {"sort_lines", sort_lines, METH_O, sort_lines_doc},
    {"copy_rows", (PyCFunction)(void (*)(void))copy_rows, METH_FASTCALL, copy_rows_doc},
    {"binary_copy", (PyCFunction)(void (*)(void))binary_copy, METH_FASTCALL, binary_copy_doc},
    {"sorted_binary", (PyCFunction)(void (*)(void))sorted_binary, METH_FASTCALL,
     sorted_binary_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "registry._native",
    "Bulk import's fast path: COPY lines of CSV rows that are certainly valid, in key order.",
    -1, methods, NULL, NULL, NULL, NULL,
};

static PyObject *names_tuple(const char *const *names, int count) {
    PyObject *tuple = PyTuple_New(count);
    for (int k = 0; tuple != NULL && k < count; k++) {
        PyObject *name = PyUnicode_FromString(names[k]);
        if (name == NULL) Py_CLEAR(tuple);
        else PyTuple_SET_ITEM(tuple, k, name);
    }
    return tuple;
}

static PyObject *text_limits(void) {
    PyObject *tuple = PyTuple_New(NTEXT);
    for (int k = 0; tuple != NULL && k < NTEXT; k++) {
        PyObject *pair = Py_BuildValue("(si)", COLUMN_NAMES[TEXT_COLS[k]], TEXT_LIMITS[k]);
        if (pair == NULL) Py_CLEAR(tuple);
        else PyTuple_SET_ITEM(tuple, k, pair);
    }
    return tuple;
}

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *assumes = Py_BuildValue(
        "{sNsNsNsNsNsNsNsi}", "columns", names_tuple(COLUMN_NAMES, NCOLS), "stored",
        names_tuple(STORED_NAMES, NSTORED), "text_limits", text_limits(), "genders",
        names_tuple(GENDERS, COUNT(GENDERS)), "marital", names_tuple(MARITAL, COUNT(MARITAL)),
        "blood", names_tuple(BLOOD, COUNT(BLOOD)), "statuses",
        names_tuple(STATUSES, COUNT(STATUSES)), "max_name", MAX_NAME);
    if (assumes == NULL || PyModule_AddObject(m, "ASSUMES", assumes) < 0) {
        Py_XDECREF(assumes);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
