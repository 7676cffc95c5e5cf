/* The column layout and code lists registry._native's row check is written against. */
#include "_native.h"

/* The input columns, in registry.record.COLUMNS order (the I_ names of _native.h). */
const char *const COLUMN_NAMES[] = {
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
const char *const STORED_NAMES[] = {
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
/* The free-text columns, in the order they are written, and their limits in characters. */
const int TEXT_COLS[] = {I_BIRTH_PLACE, I_HOMETOWN, I_RELIGION, I_PERMANENT,
                         I_TEMPORARY, I_CURRENT, I_RELATIONSHIP, I_CARD_PLACE};
const int TEXT_LIMITS[] = {200, 200, 60, 300, 300, 300, 40, 200};
const char *const GENDERS[] = {"male", "female"}; /* by the ID's 4th digit, even/odd */
const char *const MARITAL[] = {"single", "married", "divorced", "widowed"};
const char *const BLOOD[] = {"A", "B", "AB", "O", "A-", "B-", "AB-", "O-"};
const char *const STATUSES[] = {"alive", "deceased", "missing"};
