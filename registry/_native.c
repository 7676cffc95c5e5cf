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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define USE_SSE2 1 /* the 16-byte scans below; elsewhere they go byte by byte */
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

/* What the checks below are written against. The module exports them (ASSUMES), and
 * registry.bulk.pipeline uses it only while they equal registry.record's and models' own. */
static const char *const COLUMN_NAMES[NCOLS] = {
    "id_number", "full_name", "other_names", "birth_date", "gender", "birth_province",
    "birth_place", "hometown", "ethnicity", "religion", "nationality", "marital_status",
    "blood_type", "permanent_address", "temporary_address", "current_address", "household_id",
    "household_relationship", "father_id_number", "father_name", "father_nationality",
    "mother_id_number", "mother_name", "mother_nationality", "spouse_id_number", "spouse_name",
    "spouse_nationality", "representative_id_number", "representative_name",
    "representative_nationality", "status", "death_date", "missing_date", "card_number",
    "card_issue_date", "card_issue_place", "card_expiry_date", "old_id_number",
};
/* The order row_line writes a valid record's values in. */
static const char *const STORED_NAMES[] = {
    "id_number", "full_name", "name_folded", "other_names", "birth_date",
    "birth_date_precision", "gender", "birth_province", "ethnicity", "nationality",
    "marital_status", "blood_type", "birth_place", "hometown", "religion", "permanent_address",
    "temporary_address", "current_address", "household_relationship", "card_issue_place",
    "household_id", "father_id_number", "father_name", "father_nationality",
    "mother_id_number", "mother_name", "mother_nationality", "spouse_id_number", "spouse_name",
    "spouse_nationality", "representative_id_number", "representative_name",
    "representative_nationality", "status", "death_date", "missing_date", "card_issue_date",
    "card_expiry_date", "card_number", "old_id_number",
};
#define NSTORED ((int)(sizeof STORED_NAMES / sizeof *STORED_NAMES))
/* The free-text columns, in the order they are written, and their limits in characters. */
static const int TEXT_COLS[] = {I_BIRTH_PLACE, I_HOMETOWN, I_RELIGION, I_PERMANENT,
                                I_TEMPORARY, I_CURRENT, I_RELATIONSHIP, I_CARD_PLACE};
static const int TEXT_LIMITS[] = {200, 200, 60, 300, 300, 300, 40, 200};
#define NTEXT 8
static const char *const GENDERS[] = {"male", "female"}; /* by the ID's 4th digit, even/odd */
static const char *const MARITAL[] = {"single", "married", "divorced", "widowed"};
static const char *const BLOOD[] = {"A", "B", "AB", "O", "A-", "B-", "AB-", "O-"};
static const char *const STATUSES[] = {"alive", "deceased", "missing"};
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

static int buf_reserve(buf_t *b, size_t more) {
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

static int buf_put(buf_t *b, const void *s, size_t n) {
    if (buf_reserve(b, n) < 0) return -1;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

typedef struct { const unsigned char *s; Py_ssize_t n; } val_t; /* n == 0: absent */

/* The next code point of strict UTF-8 at s[*i] (< n), or -1. */
static inline int32_t next_cp(const unsigned char *s, Py_ssize_t n, Py_ssize_t *i) {
    unsigned char c = s[*i];
    if (c < 0x80) { (*i)++; return c; }
    int len;
    int32_t cp, min;
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return -1;
    if (*i + len > n) return -1;
    for (int k = 1; k < len; k++) {
        unsigned char d = s[*i + k];
        if ((d & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    *i += len;
    return cp;
}

/* A name already in stored form (registry.names._STORED_FORM, at most MAX_NAME characters);
 * its folded form is appended to ``fold`` when that is not NULL. */
static int name_ok(const tables_t *t, val_t v, buf_t *fold) {
    Py_ssize_t i = 0, chars = 0;
    int in_part = 0;
    while (i < v.n) {
        int32_t cp = next_cp(v.s, v.n, &i);
        if (cp < 0) return 0;
        chars++;
        unsigned char out;
        if (!in_part) {
            if (cp >= TABLE || t->kind[cp] != K_UPPER) return 0;
            in_part = 1;
            out = t->fold[cp];
        } else if (cp == ' ' || cp == '-' || cp == '\'') {
            in_part = 0;
            out = (unsigned char)cp;
        } else {
            if (cp >= TABLE || t->kind[cp] != K_LOWER) return 0;
            out = t->fold[cp];
        }
        if (fold != NULL && buf_put(fold, &out, 1) < 0) return -1;
    }
    return in_part && chars <= MAX_NAME;
}

/* Text that record._text returns unchanged: printable ASCII (no backslash, which COPY would
 * need escaped) and Vietnamese letters, no two spaces together, at most ``limit`` characters. */
static int text_ok(const tables_t *t, val_t v, Py_ssize_t limit) {
    Py_ssize_t i = 0, chars = 0;
    int space = 0;
    while (i < v.n) {
        int32_t cp = next_cp(v.s, v.n, &i);
        if (cp < 0) return 0;
        chars++;
        if (cp == ' ') {
            if (space) return 0;
            space = 1;
            continue;
        }
        space = 0;
        if (cp > 0x20 && cp < 0x7F) {
            if (cp == '\\') return 0;
        } else if (cp >= TABLE || t->kind[cp] == 0) {
            return 0;
        }
    }
    return chars <= limit;
}

static int digits(const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* A 12-digit ID number whose first three digits are a province code (record._id_value's
 * plain check). */
static int id_ok(const tables_t *t, val_t v) {
    return v.n == 12 && digits(v.s, 12)
           && t->province[(v.s[0] - '0') * 100 + (v.s[1] - '0') * 10 + (v.s[2] - '0')];
}

static int is(val_t v, const char *word) {
    size_t n = strlen(word);
    return (size_t)v.n == n && memcmp(v.s, word, n) == 0;
}

static int in_set(val_t v, const char *const *words, int count) {
    for (int k = 0; k < count; k++)
        if (is(v, words[k])) return 1;
    return 0;
}

static int country_ok(val_t v) {
    return v.n == 2 && v.s[0] >= 'A' && v.s[0] <= 'Z' && v.s[1] >= 'A' && v.s[1] <= 'Z';
}

static int num(const unsigned char *s, int n) {
    int x = 0;
    for (int i = 0; i < n; i++) x = x * 10 + (s[i] - '0');
    return x;
}

/* A date (as yyyymmdd) written YYYY-MM-DD, or also YYYY-MM / YYYY when ``partial`` (unknown
 * parts are 1, as record.parse_partial_date makes them); 0 when it is not one. */
static long date_of(val_t v, int partial, char *precision) {
    const unsigned char *s = v.s;
    int year, month = 1, day = 1;
    if (v.n == 10 && s[4] == '-' && s[7] == '-' && digits(s, 4) && digits(s + 5, 2)
        && digits(s + 8, 2)) {
        year = num(s, 4); month = num(s + 5, 2); day = num(s + 8, 2);
        *precision = 'd';
    } else if (partial && v.n == 7 && s[4] == '-' && digits(s, 4) && digits(s + 5, 2)) {
        year = num(s, 4); month = num(s + 5, 2);
        *precision = 'm';
    } else if (partial && v.n == 4 && digits(s, 4)) {
        year = num(s, 4);
        *precision = 'y';
    } else {
        return 0;
    }
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1 || month < 1 || month > 12 || day < 1) return 0;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > days[month - 1] + (month == 2 && leap)) return 0;
    return (long)year * 10000 + month * 100 + day;
}

static int put_sep(buf_t *o) { return buf_put(o, "\t", 1); }

static int put_val(buf_t *o, val_t v) {
    if (put_sep(o) < 0) return -1;
    return v.n ? buf_put(o, v.s, (size_t)v.n) : buf_put(o, "\\N", 2);
}

static int put_str(buf_t *o, const char *s) {
    if (put_sep(o) < 0) return -1;
    return buf_put(o, s, strlen(s));
}

static int put_date(buf_t *o, long ymd) {
    if (put_sep(o) < 0) return -1;
    if (ymd == 0) return buf_put(o, "\\N", 2);
    long year = ymd / 10000, month = ymd / 100 % 100, day = ymd % 100;
    char text[10] = {
        (char)('0' + year / 1000), (char)('0' + year / 100 % 10), (char)('0' + year / 10 % 10),
        (char)('0' + year % 10), '-', (char)('0' + month / 10), (char)('0' + month % 10), '-',
        (char)('0' + day / 10), (char)('0' + day % 10),
    };
    return buf_put(o, text, sizeof text);
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

static int seen_is(val_t a, val_t b) {
    return a.n == b.n && a.n > 0 && (a.s == b.s || memcmp(a.s, b.s, (size_t)a.n) == 0);
}

static void seen_keep(const seen_t *c, val_t *slot, val_t v) {
    if (v.s >= c->lo && v.s + v.n <= c->hi) *slot = v;
}

/* Check one row's values and append its COPY line (without the tail) to ``o``.
 * 1: written; 0: not certainly valid (``o`` is left as it was); -1: error. */
static int row_line(const tables_t *t, val_t *v, long today, long first_year, buf_t *o,
                    buf_t *fold, seen_t *seen) {
    size_t mark = o->n;
    char precision = 0, unused;
    val_t id = v[I_ID];
    if (!id_ok(t, id) || v[I_NAME].n == 0 || v[I_BIRTH].n == 0) return 0;
    fold->n = 0;
    int ok = name_ok(t, v[I_NAME], fold);
    if (ok <= 0) return ok;
    if (v[I_OTHER].n && name_ok(t, v[I_OTHER], NULL) != 1) return 0;
    long birth = date_of(v[I_BIRTH], 1, &precision);
    if (birth == 0 || birth > today) return 0;
    /* digits 1-3 province, 4 century and gender, 5-6 year (idnumber.check_against) */
    int code = id.s[3] - '0';
    if (birth / 10000 != first_year + (code / 2) * 100 + num(id.s + 4, 2)) return 0;
    if (!is(v[I_GENDER], GENDERS[code % 2])) return 0;
    val_t province = v[I_PROVINCE];
    if (province.n != 3 || memcmp(province.s, id.s, 3) != 0) return 0;
    val_t ethnic = v[I_ETHNICITY];
    if (ethnic.n != 2 || !digits(ethnic.s, 2) || !t->ethnic[num(ethnic.s, 2)]) return 0;
    if (v[I_NATIONALITY].n && !country_ok(v[I_NATIONALITY])) return 0;
    val_t marital = v[I_MARITAL];
    if (marital.n && !in_set(marital, MARITAL, COUNT(MARITAL))) return 0;
    val_t blood = v[I_BLOOD];
    if (blood.n && !in_set(blood, BLOOD, COUNT(BLOOD))) return 0;
    for (int k = 0; k < NTEXT; k++) {
        val_t text = v[TEXT_COLS[k]];
        if (!text.n || seen_is(text, seen->text[k])) continue;
        if (!text_ok(t, text, TEXT_LIMITS[k])) return 0;
        seen_keep(seen, &seen->text[k], text);
    }
    val_t household = v[I_HOUSEHOLD];
    if (household.n > 20) return 0;
    for (Py_ssize_t i = 0; i < household.n; i++) {
        unsigned char c = household.s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '-'))
            return 0;
    }
    for (int r = 0; r < 4; r++) {
        val_t *rel = v + I_RELATIVES + 3 * r;
        if (rel[0].n && !id_ok(t, rel[0])) return 0;
        if (rel[1].n && !seen_is(rel[1], seen->names[r])) {
            if (name_ok(t, rel[1], NULL) != 1) return 0;
            seen_keep(seen, &seen->names[r], rel[1]);
        }
        if (rel[2].n && !country_ok(rel[2])) return 0;
    }
    val_t status = v[I_STATUS];
    int deceased = is(status, STATUSES[DECEASED]), missing = is(status, STATUSES[MISSING]);
    if (status.n && !in_set(status, STATUSES, COUNT(STATUSES))) return 0;
    long death = 0, missing_date = 0, issued = 0, expiry = 0;
    if (v[I_DEATH].n && !(death = date_of(v[I_DEATH], 0, &unused))) return 0;
    if (v[I_MISSING].n && !(missing_date = date_of(v[I_MISSING], 0, &unused))) return 0;
    if (v[I_CARD_ISSUED].n && !(issued = date_of(v[I_CARD_ISSUED], 0, &unused))) return 0;
    if (v[I_CARD_EXPIRY].n && !(expiry = date_of(v[I_CARD_EXPIRY], 0, &unused))) return 0;
    if (deceased != (death != 0)) return 0;
    if (missing && missing_date == 0) return 0;
    if (death && death < birth) return 0;
    if (issued && expiry && expiry <= issued) return 0;
    if (is(marital, MARITAL[MARRIED]) && v[I_RELATIVES + 6].n == 0 && v[I_RELATIVES + 7].n == 0)
        return 0;
    val_t card = v[I_CARD];
    if (card.n && !(id_ok(t, card) && memcmp(card.s, id.s, 12) == 0)) return 0;
    val_t old = v[I_OLD];
    if (old.n && !(old.n == 9 && digits(old.s, 9))) return 0;

    /* The line, in STORED_NAMES order. */
    val_t folded = {fold->p, (Py_ssize_t)fold->n};
    if (buf_put(o, id.s, 12) < 0 || put_val(o, v[I_NAME]) < 0 || put_val(o, folded) < 0
        || put_val(o, v[I_OTHER]) < 0 || put_date(o, birth) < 0
        || put_str(o, precision == 'd' ? "day" : precision == 'm' ? "month" : "year") < 0
        || put_val(o, v[I_GENDER]) < 0 || put_val(o, province) < 0 || put_val(o, ethnic) < 0
        || (v[I_NATIONALITY].n ? put_val(o, v[I_NATIONALITY]) : put_str(o, "VN")) < 0
        || (marital.n ? put_val(o, marital) : put_str(o, MARITAL[SINGLE])) < 0
        || put_val(o, blood) < 0)
        goto fail;
    for (int k = 0; k < NTEXT; k++)
        if (put_val(o, v[TEXT_COLS[k]]) < 0) goto fail;
    if (put_val(o, household) < 0) goto fail;
    for (int k = 0; k < 12; k++)
        if (put_val(o, v[I_RELATIVES + k]) < 0) goto fail;
    if ((status.n ? put_val(o, status) : put_str(o, STATUSES[ALIVE])) < 0 || put_date(o, death) < 0
        || put_date(o, missing_date) < 0 || put_date(o, issued) < 0 || put_date(o, expiry) < 0
        || put_val(o, card) < 0 || put_val(o, old) < 0)
        goto fail;
    return 1;
fail:
    o->n = mark;
    return -1;
}

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

PyDoc_STRVAR(copy_rows_doc,
"copy_rows(data, tables, today, first_year, tail, judge, max_line)\n"
"-> (copy, ids, good, ends, rows) | None\n\n"
"COPY lines of a CSV chunk's rows (header: registry.record.COLUMNS). A row not certainly\n"
"valid is passed to judge(row_number, line) -> bytes | None (its COPY line, or None for a\n"
"reject). good and ends are packed C longs (array('l')): the row numbers of the lines and\n"
"where each ends in copy. None: the chunk needs Python's reader.");

static PyObject *copy_rows(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
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

/* sort_lines: one batch's COPY lines in key order (see registry.bulk.pipeline.by_number). */
#define SORT_KEY 12 /* a line's key: its first 12 bytes, the ID number */

/* A line and a copy of its key, so that comparing two lines reads only the index. */
typedef struct {
    char key[SORT_KEY]; /* zero-padded when the line is shorter; key_n then orders */
    Py_ssize_t key_n, n, at;
    const char *p;
} line_t;

static int line_cmp(const void *a, const void *b) {
    const line_t *x = a, *y = b;
    int c = memcmp(x->key, y->key, SORT_KEY);
    if (c != 0) return c;
    if (x->key_n != y->key_n) return x->key_n < y->key_n ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at; /* the same key: first come, first out */
}

/* The lines of ``parts`` (a sequence of bytes, each empty or ending with a newline), indexed
 * and sorted by key; *lines and *total (bytes) are set. NULL with an exception on bad input. */
static line_t *index_lines(PyObject *seq, const char *who, Py_ssize_t *lines, Py_ssize_t *total) {
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

PyDoc_STRVAR(sort_lines_doc,
"sort_lines(parts) -> bytes\n\n"
"The lines of ``parts`` (bytes, each empty or ending with a newline) joined in the order of\n"
"their first 12 bytes; lines with the same first 12 bytes keep the order they came in.");

static PyObject *sort_lines(PyObject *self, PyObject *parts) {
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


/* COPY binary format (https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4). */

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

PyDoc_STRVAR(binary_copy_doc,
"binary_copy(text, kinds) -> bytes\n\n"
"COPY text-format lines (each ending with a newline) as COPY binary-format tuples (without the\n"
"file's header and trailer). ``kinds`` has one letter per column: t text, d date\n"
"(YYYY-MM-DD), i int4, l int8. ValueError when a line has another number of columns or a\n"
"value that is not of its kind.");

static PyObject *binary_copy(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
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

PyDoc_STRVAR(sorted_binary_doc,
"sorted_binary(parts, kinds) -> bytes\n\n"
"binary_copy(sort_lines(parts), kinds) in one pass, written straight into the result: the\n"
"lines of ``parts`` in the order of their first 12 bytes (ties in the order given) as COPY\n"
"binary-format tuples. The same errors as both; a line is numbered by its sorted place.");

static PyObject *sorted_binary(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
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
