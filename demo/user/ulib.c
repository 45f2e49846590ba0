/* SPDX-License-Identifier: MIT */
/* The user programs' runtime: entry, exit, printf (ulib.h). */
#include "ulib.h"

#include <stdarg.h>

unsigned long u_pagesz = 4096;

__asm__(".section .text.start, \"ax\"\n" USYS_START_ASM ".text\n");

void ustart(long *sp);

/* sp: argc, argv[], 0, envp[], 0, auxv pairs (Linux's layout). */
void ustart(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	long *p = sp + 1 + argc + 1;
	while (*p)
		p++;
	for (p++; p[0]; p += 2)
		if (p[0] == 6) /* AT_PAGESZ */
			u_pagesz = (unsigned long)p[1];
	u_exit(main(argc, argv));
}

void u_exit(int code)
{
	for (;;)
		usys(USYS_EXIT, code, 0, 0, 0, 0, 0);
}

__attribute__((no_builtin)) void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

__attribute__((no_builtin)) void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;
	while (n--)
		*dp++ = *sp++;
	return d;
}

struct obuf {
	char b[400];
	unsigned n;
};

static void out(struct obuf *o, char c)
{
	if (o->n < sizeof(o->b))
		o->b[o->n++] = c;
}

static void num(struct obuf *o, unsigned long long v, unsigned base, int neg)
{
	char t[24];
	int i = 0;
	if (neg)
		out(o, '-');
	do {
		t[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (i)
		out(o, t[--i]);
}

void uprintf(const char *fmt, ...)
{
	struct obuf o;
	o.n = 0;
	va_list ap;
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			out(&o, *f);
			continue;
		}
		int l = 0;
		f++;
		if (*f == '#') {
			out(&o, '0');
			out(&o, 'x');
			f++;
		}
		while (*f == 'l') {
			l++;
			f++;
		}
		unsigned long long v;
		switch (*f) {
		case 'd': {
			long long s =
				l ? va_arg(ap, long long) : va_arg(ap, int);
			num(&o,
			    s < 0 ? 0ull - (unsigned long long)s
				  : (unsigned long long)s,
			    10, s < 0);
			break;
		}
		case 'u':
		case 'x':
			v = l ? va_arg(ap, unsigned long long)
			      : va_arg(ap, unsigned int);
			num(&o, v, *f == 'u' ? 10 : 16, 0);
			break;
		case 'p':
			out(&o, '0');
			out(&o, 'x');
			num(&o,
			    (unsigned long long)(unsigned long)va_arg(ap,
								      void *),
			    16, 0);
			break;
		case 's':
			for (const char *s = va_arg(ap, const char *); *s; s++)
				out(&o, *s);
			break;
		case 'c':
			out(&o, (char)va_arg(ap, int));
			break;
		default:
			out(&o, *f);
		}
	}
	va_end(ap);
	u_write(1, o.b, o.n);
}

int u_run_child(void (*fn)(void *), void *arg)
{
	long pid = u_fork();
	if (pid < 0)
		return (int)pid;
	if (pid == 0) {
		fn(arg);
		u_exit(0);
	}
	int st = -1;
	long w = u_wait(&st);
	if (w != pid)
		return -1000 - (int)w;
	return st;
}
