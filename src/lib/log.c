/* SPDX-License-Identifier: MIT */
/* A small printf-style formatter, so the core needs no libc to report. */
#include <mmkit/log.h>

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_num(struct out *o, uint64_t v, unsigned base, bool neg,
		    unsigned width, char pad, bool prefix)
{
	char tmp[24];
	unsigned n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (prefix) {
		put(o, '0');
		put(o, 'x');
	}
	if (neg)
		put(o, '-');
	for (unsigned i = n + (neg ? 1u : 0u); i < width; i++)
		put(o, pad);
	while (n)
		put(o, tmp[--n]);
}

size_t mmk_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		bool alt = false;
		char pad = ' ';
		unsigned width = 0, lng = 0;
		fmt++;
		if (*fmt == '#') {
			alt = true;
			fmt++;
		}
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t v =
				lng ? va_arg(ap, long long) : va_arg(ap, int);
			uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
			put_num(&o, u, 10, v < 0, width, pad, false);
			break;
		}
		case 'u':
		case 'x': {
			uint64_t v = lng ? va_arg(ap, unsigned long long)
					 : va_arg(ap, unsigned);
			put_num(&o, v, *fmt == 'x' ? 16 : 10, false, width, pad,
				alt && *fmt == 'x');
			break;
		}
		case 'p':
			put_num(&o, (uintptr_t)va_arg(ap, void *), 16, false,
				width, pad, true);
			break;
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			while (*s)
				put(&o, *s++);
			break;
		}
		case '%':
			put(&o, '%');
			break;
		default: /* unknown conversion: show it, stop parsing */
			put(&o, '%');
			if (!*fmt)
				goto done;
			put(&o, *fmt);
		}
	}
done:
	if (size)
		buf[o.len < size ? o.len : size - 1] = 0;
	return o.len;
}

size_t mmk_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = mmk_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void mmk_log(int level, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	mmk_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	mmk_hal_log(level, line);
}

_Noreturn void mmk_panic(const char *file, int line, const char *what)
{
	mmk_log(MMK_LOG_ERROR, "assertion failed at %s:%d: %s", file, line,
		what);
	__builtin_trap();
}

/* One line per code, in code order: its name, then a short message. */
static const char *const err_text[][2] = {
	{"MMK_OK", "success"},
	{"MMK_ENOMEM", "out of memory"},
	{"MMK_EINVAL", "invalid argument"},
	{"MMK_EALIGN", "address or size not aligned"},
	{"MMK_ERANGE", "out of range"},
	{"MMK_EWRAP", "size zero or range wraps around"},
	{"MMK_ENONCANON", "virtual address not canonical"},
	{"MMK_EEXIST", "already mapped or overlapping"},
	{"MMK_ENOENT", "not mapped or no such area"},
	{"MMK_ENOTSUP", "not supported by the format"},
	{"MMK_EFAULT", "bad address"},
	{"MMK_EDOUBLEFREE", "already free"},
	{"MMK_EBADFREE", "not an allocated block"},
	{"MMK_EREFCOUNT", "reference count out of range"},
	{"MMK_EBUSY", "resource busy"},
	{"MMK_EACCES", "access not permitted"},
	{"MMK_EAGAIN", "changed meanwhile, try again"},
};
_Static_assert(MMK_ARRAY_SIZE(err_text) == MMK_ERR_COUNT_,
	       "one name and message per error code");

static bool is_code(int err)
{
	return err <= 0 && err > -MMK_ERR_COUNT_;
}

const char *mmk_strerror(int err)
{
	if (err >= 0)
		return err_text[0][1];
	return is_code(err) ? err_text[-err][1] : "unknown error";
}

const char *mmk_strerror_name(int err)
{
	return is_code(err) ? err_text[-err][0] : "MMK_E?";
}
