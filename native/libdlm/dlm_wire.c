/*
 * The marshaller: the field encodings of docs/dlm-protocol.md ("Field types"), little-endian,
 * bounds-checked on reading (a read past the end sets r->bad and yields zeros).
 */
#include "dlm_private.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void w_grow(struct wbuf *w, size_t n)
{
	if (w->oom || w->len + n <= w->cap) return;
	size_t cap = w->cap ? w->cap * 2 : 256;
	while (cap < w->len + n) cap *= 2;
	unsigned char *p = realloc(w->p, cap);
	if (!p) {
		w->oom = 1;
		return;
	}
	w->p = p;
	w->cap = cap;
}

void w_bytes(struct wbuf *w, const void *p, size_t n)
{
	w_grow(w, n);
	if (w->oom) return;
	if (n) memcpy(w->p + w->len, p, n);
	w->len += n;
}

void w_u8(struct wbuf *w, uint8_t v) { w_bytes(w, &v, 1); }
void w_u16(struct wbuf *w, uint16_t v)
{
	unsigned char b[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
	w_bytes(w, b, 2);
}
void w_u32(struct wbuf *w, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24) };
	w_bytes(w, b, 4);
}
void w_i32(struct wbuf *w, int32_t v) { w_u32(w, (uint32_t)v); }
void w_f64(struct wbuf *w, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	w_u32(w, (uint32_t)u);
	w_u32(w, (uint32_t)(u >> 32));
}

void w_begin(struct wbuf *w, uint8_t op)
{
	memset(w, 0, sizeof *w);
	w_u32(w, 0); /* body length, set when sent */
	w_u8(w, op);
	w_u32(w, 0); /* reqId, set when sent */
}

void w_lkid(struct wbuf *w, const dlm_lkid_t *id)
{
	w_u32(w, id ? id->hndl : 0);
	w_f64(w, id ? (double)id->seqn : 0);
}
void w_valb(struct wbuf *w, const dlm_valb_t *v) { w_bytes(w, v, DLM_VALB_BYTES); }
void w_valb_opt(struct wbuf *w, const dlm_valb_t *v)
{
	w_u8(w, v != NULL);
	if (v) w_valb(w, v);
}

/* Exactly representable as a double: a number; else the decimal digits as a bigint. */
void w_value(struct wbuf *w, long long v)
{
	if (v > -(1LL << 53) && v < (1LL << 53)) {
		w_u8(w, V_NUMBER);
		w_f64(w, (double)v);
		return;
	}
	char s[32];
	int n = snprintf(s, sizeof s, "%lld", v);
	w_u8(w, V_BIGINT);
	w_str(w, s, (size_t)n);
}

void w_short(struct wbuf *w, const void *p, uint8_t n)
{
	w_u8(w, n);
	w_bytes(w, p, n);
}
void w_str(struct wbuf *w, const char *s, size_t n)
{
	w_u16(w, (uint16_t)n);
	w_bytes(w, s, n);
}
void w_free(struct wbuf *w)
{
	free(w->p);
	memset(w, 0, sizeof *w);
}

static const unsigned char *r_take(struct rbuf *r, size_t n)
{
	static const unsigned char zeros[DLM_VALB_BYTES + 8];
	if (r->bad || r->len - r->pos < n) {
		r->bad = 1;
		return n <= sizeof zeros ? zeros : NULL;
	}
	const unsigned char *p = r->p + r->pos;
	r->pos += n;
	return p;
}

uint8_t r_u8(struct rbuf *r) { return *r_take(r, 1); }
uint16_t r_u16(struct rbuf *r)
{
	const unsigned char *b = r_take(r, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}
uint32_t r_u32(struct rbuf *r)
{
	const unsigned char *b = r_take(r, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
int32_t r_i32(struct rbuf *r) { return (int32_t)r_u32(r); }
double r_f64(struct rbuf *r)
{
	uint64_t lo = r_u32(r), hi = r_u32(r);
	uint64_t u = lo | hi << 32;
	double d;
	memcpy(&d, &u, 8);
	return d;
}

void r_lkid(struct rbuf *r, dlm_lkid_t *id)
{
	uint32_t h = r_u32(r);
	double s = r_f64(r);
	if (!(s >= 0 && s < 9007199254740992.0)) {
		r->bad = 1;
		s = 0;
	}
	id->hndl = h;
	id->seqn = (unsigned long long)s;
	id->reserved = 0;
}

void r_valb(struct rbuf *r, dlm_valb_t *dst)
{
	const unsigned char *p = r_take(r, DLM_VALB_BYTES);
	if (dst && !r->bad) memcpy(dst, p, DLM_VALB_BYTES);
}
int r_valb_opt(struct rbuf *r, dlm_valb_t *dst)
{
	if (!r_u8(r)) return 0;
	r_valb(r, dst);
	return !r->bad;
}

long long r_value(struct rbuf *r)
{
	uint8_t tag = r_u8(r);
	switch (tag) {
	case V_UNDEFINED: case V_NULL: case V_FALSE: return 0;
	case V_TRUE: return 1;
	case V_NUMBER: {
		double d = r_f64(r);
		if (!(d > -9.3e18 && d < 9.3e18)) return 0;
		return (long long)d;
	}
	case V_STRING: case V_BYTES: {
		uint16_t n = r_u16(r);
		r_take(r, n);
		return 0;
	}
	case V_BIGINT: {
		uint16_t n = r_u16(r);
		const unsigned char *p = r_take(r, n);
		if (r->bad || !p || n > 60) return 0;
		char s[64];
		memcpy(s, p, n);
		s[n] = 0;
		return strtoll(s, NULL, 10);
	}
	default:
		r->bad = 1;
		return 0;
	}
}

size_t r_short(struct rbuf *r, void *dst, size_t cap)
{
	uint8_t n = r_u8(r);
	const unsigned char *p = r_take(r, n);
	if (r->bad || !p) return 0;
	size_t k = n < cap ? n : cap;
	if (dst && k) memcpy(dst, p, k);
	return k;
}

void r_skip_str(struct rbuf *r)
{
	uint16_t n = r_u16(r);
	r_take(r, n);
}

int r_done(struct rbuf *r) { return !r->bad && r->pos == r->len; }
