/* The error list's text and names, and the errno mapping. */
#include <errno.h>

#include "tk.h"

static const char *const err_text[] = {
#define ERR_TEXT(code, text) [code] = text,
    TK_ERR_LIST(ERR_TEXT)
#undef ERR_TEXT
};

static const char *const err_name[] = {
#define ERR_NAME(code, text) [code] = #code,
    TK_ERR_LIST(ERR_NAME)
#undef ERR_NAME
};

_Static_assert(sizeof(err_text) / sizeof(err_text[0]) == TK_ERR_COUNT_, "one text per code");
_Static_assert(sizeof(err_name) / sizeof(err_name[0]) == TK_ERR_COUNT_, "one name per code");

const char *tk_err_str(tk_err err)
{
    /* The enum's range check is done on an unsigned copy: a corrupt value may be negative. */
    unsigned index = (unsigned)err;
    if (index >= (unsigned)TK_ERR_COUNT_) return "unknown error";
    TK_ASSERT(err_text[index] != NULL);
    return err_text[index];
}

const char *tk_err_name(tk_err err)
{
    unsigned index = (unsigned)err;
    if (index >= (unsigned)TK_ERR_COUNT_) return "TK_E?";
    TK_ASSERT(err_name[index] != NULL);
    return err_name[index];
}

tk_err tk_err_from_errno(int errnum)
{
    TK_ASSERT(errnum >= 0);
    switch (errnum) {
    case 0:
        return TK_OK;
    case ENOMEM:
        return TK_ENOMEM;
    case EINVAL:
        return TK_EINVAL;
    case ENOSPC:
    case EDQUOT:
        return TK_ENOSPC;
    case ENOENT:
        return TK_ENOENT;
    case EEXIST:
        return TK_EEXIST;
    case EPERM:
    case EACCES:
    case EROFS:
        return TK_EPERM;
    case EAGAIN:
        return TK_EAGAIN;
    case ETIMEDOUT:
        return TK_ETIMEDOUT;
    case EOVERFLOW:
    case ERANGE:
        return TK_EOVERFLOW;
    case ECANCELED:
        return TK_ECANCELED;
    default:
        return TK_EIO;
    }
}
