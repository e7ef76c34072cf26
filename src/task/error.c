/* Error codes: messages and asyncio-style names from one table, and aw_raise. */
#include "internal.h"

#include <stdarg.h>

const char *aw_strerror(int err)
{
    switch (err) {
    case 0: return "success";
#define AW__ERR_MSG(name, value, pyname, msg) case AW_##name: return msg;
    AW_ERRNO_MAP(AW__ERR_MSG)
#undef AW__ERR_MSG
    default: break;
    }
    if (err < 0 && err > -4096) return strerror(-err);
    return "unknown error";
}

const char *aw_errname(int err)
{
    switch (err) {
    case 0: return "OK";
#define AW__ERR_NAME(name, value, pyname, msg) case AW_##name: return pyname;
    AW_ERRNO_MAP(AW__ERR_NAME)
#undef AW__ERR_NAME
    case -ENOMEM: return "MemoryError";
    case -EINVAL: return "ValueError";
    case -ECONNRESET: return "ConnectionResetError";
    case -ECONNREFUSED: return "ConnectionRefusedError";
    case -ECONNABORTED: return "ConnectionAbortedError";
    case -EPIPE: return "BrokenPipeError";
    case -ENOENT: return "FileNotFoundError";
    case -EEXIST: return "FileExistsError";
    case -EACCES: case -EPERM: return "PermissionError";
    case -ETIMEDOUT: return "TimeoutError";
    case -EINTR: return "InterruptedError";
    case -ECHILD: return "ChildProcessError";
    case -EAGAIN: return "BlockingIOError";
    case -EISDIR: return "IsADirectoryError";
    case -ENOTDIR: return "NotADirectoryError";
    case -ESRCH: return "ProcessLookupError";
    default: break;
    }
    return err < 0 && err > -4096 ? "OSError" : "Error";
}

int aw__raise(int err, const char *file, int line, const char *func, const char *fmt, ...)
{
    aw_loop *loop = aw__loop();
    aw_task *t = loop ? loop->current : NULL;
    if (!t || err >= 0) return err;
    char *msg = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n >= 0) {
            msg = aw__malloc((size_t)n + 1);
            if (msg) {
                va_start(ap, fmt);
                vsnprintf(msg, (size_t)n + 1, fmt, ap);
                va_end(ap);
            }
        }
    }
    aw__free(t->err_msg);
    t->err_msg = msg;
    t->err_code = err;
    t->err_file = file;
    t->err_line = line;
    t->err_func = func;
    return err;
}
