/*
 * The record rules of registry/record.py as bulk import's fast path applies them: a row's values
 * one by one (names in stored form, free text, ID numbers, codes, dates), the checks across
 * them, and the COPY line of a row that passes them all.
 */
#include "_native.h"

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

static int seen_is(val_t a, val_t b) {
    return a.n == b.n && a.n > 0 && (a.s == b.s || memcmp(a.s, b.s, (size_t)a.n) == 0);
}

static void seen_keep(const seen_t *c, val_t *slot, val_t v) {
    if (v.s >= c->lo && v.s + v.n <= c->hi) *slot = v;
}

/* row_line (_native.h): the value checks, then the checks across values, then the line. */
int row_line(const tables_t *t, val_t *v, long today, long first_year, buf_t *o, buf_t *fold,
             seen_t *seen) {
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
