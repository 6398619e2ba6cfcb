// SPDX-License-Identifier: MIT
/*
 * stats_parse: HAProxy's `show stat` CSV (management.txt §9.1, "show stat"), parsed by header
 * name because only the first 103 columns have documented positions and 2.6.12 appends module
 * columns after a "-" delimiter (reference haproxy-runtime-autoscaling.md §1.2). Pure: no I/O,
 * every size capped; fuzzed (tests/fuzz/fuzz_stats.c).
 */
#include "flowproxy/stats_parse.h"
#include "flowproxy/util.h"

#include <stdint.h>

#define STATS_ROWS_MAX	  1000000
#define STATS_COLUMNS_MAX 1024

enum stats_field {
	F_NONE = 0,
	F_PXNAME,
	F_SVNAME,
	F_SCUR,
	F_SMAX,
	F_STOT,
	F_QCUR,
	F_HRSP_1XX,
	F_HRSP_2XX,
	F_HRSP_3XX,
	F_HRSP_4XX,
	F_HRSP_5XX,
	F_HRSP_OTHER,
	F_REQ_TOT,
	F_ECON,
	F_ERESP,
	F_STATUS,
	F_ADDR,
};

static const struct {
	const char *name;
	enum stats_field field;
} columns[] = {
	{"pxname", F_PXNAME},	  {"svname", F_SVNAME},	    {"scur", F_SCUR},
	{"smax", F_SMAX},	  {"stot", F_STOT},	    {"qcur", F_QCUR},
	{"hrsp_1xx", F_HRSP_1XX}, {"hrsp_2xx", F_HRSP_2XX}, {"hrsp_3xx", F_HRSP_3XX},
	{"hrsp_4xx", F_HRSP_4XX}, {"hrsp_5xx", F_HRSP_5XX}, {"hrsp_other", F_HRSP_OTHER},
	{"req_tot", F_REQ_TOT},	  {"econ", F_ECON},	    {"eresp", F_ERESP},
	{"status", F_STATUS},	  {"addr", F_ADDR},
};

static enum stats_field column_field(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(columns); i++)
		if (strlen(columns[i].name) == len && memcmp(columns[i].name, name, len) == 0)
			return columns[i].field;
	return F_NONE;
}

/*
 * One CSV field starting at *pp, ending at ',' or at the end of the line. HAProxy quotes a
 * string with '"' (doubling inner quotes) when it holds a comma, quote or line break
 * (csv_enc() in src/tools.c); the value is copied to dst (cap bytes, NUL-terminated) when dst
 * is set. Returns the value length, or -1 if it does not fit or a quote is unterminated.
 */
static long csv_field(const char **pp, const char *end, char *dst, size_t cap)
{
	const char *p = *pp;
	size_t n = 0;

	if (p < end && *p == '"') {
		p++;
		for (;;) {
			if (p >= end)
				return -1;
			if (*p == '"') {
				if (p + 1 < end && p[1] == '"') {
					p++;
				} else {
					p++;
					break;
				}
			}
			if (dst) {
				if (n + 1 >= cap)
					return -1;
				dst[n] = *p;
			}
			n++;
			p++;
		}
		if (p < end && *p != ',')
			return -1;
	} else {
		const char *c = memchr(p, ',', (size_t)(end - p));
		const char *e = c ? c : end;

		n = (size_t)(e - p);
		if (dst) {
			if (n >= cap)
				return -1;
			memcpy(dst, p, n);
		}
		p = e;
	}
	if (dst)
		dst[n] = '\0';
	*pp = p < end ? p + 1 : p; /* past the ',' */
	return (long)n;
}

static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	/* Empty: the counter does not apply to this row type. */
	for (size_t i = 0; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (d >= 10 || v > UINT64_MAX / 10 || (v == UINT64_MAX / 10 && d > UINT64_MAX % 10))
			return -1;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static uint64_t *row_counter(struct stats_row *r, enum stats_field f)
{
	switch (f) {
	case F_SCUR:
		return &r->scur;
	case F_SMAX:
		return &r->smax;
	case F_STOT:
		return &r->stot;
	case F_QCUR:
		return &r->qcur;
	case F_HRSP_1XX:
		return &r->hrsp_1xx;
	case F_HRSP_2XX:
		return &r->hrsp_2xx;
	case F_HRSP_3XX:
		return &r->hrsp_3xx;
	case F_HRSP_4XX:
		return &r->hrsp_4xx;
	case F_HRSP_5XX:
		return &r->hrsp_5xx;
	case F_HRSP_OTHER:
		return &r->hrsp_other;
	case F_REQ_TOT:
		return &r->req_tot;
	case F_ECON:
		return &r->econ;
	case F_ERESP:
		return &r->eresp;
	default:
		return NULL;
	}
}

/* Fills r from one data line. Returns 0, or -1 with *ret_col set to the offending column. */
static int parse_row(const char *p, const char *end, const uint8_t *fields, size_t ncols,
		     struct stats_row *r, size_t *ret_col)
{
	for (size_t col = 0; col < ncols && p < end; col++) {
		enum stats_field f = fields[col];
		char tmp[32];
		char *dst = NULL;
		size_t cap = sizeof(tmp);
		uint64_t *counter;
		long n;

		*ret_col = col;
		switch (f) {
		case F_PXNAME:
			dst = r->proxy;
			cap = sizeof(r->proxy);
			break;
		case F_SVNAME:
			dst = r->server;
			cap = sizeof(r->server);
			break;
		case F_STATUS:
			dst = r->status;
			cap = sizeof(r->status);
			break;
		case F_ADDR:
			dst = r->addr;
			cap = sizeof(r->addr);
			break;
		case F_NONE:
			break;
		default:
			dst = tmp;
			break;
		}
		n = csv_field(&p, end, dst, cap);
		if (n < 0)
			return -1;
		counter = row_counter(r, f);
		if (counter && parse_u64(tmp, (size_t)n, counter) < 0)
			return -1;
	}
	r->is_backend = streq(r->server, "BACKEND");
	return 0;
}

int stats_parse_csv(const char *csv, size_t len, struct stats_table *ret, char **reterr)
{
	const char *p = csv, *end = csv + len, *nl, *hp;
	uint8_t fields[STATS_COLUMNS_MAX];
	size_t ncols = 0, nrows = 0, lines = 0, lineno = 1;
	bool has_px = false, has_sv = false;
	struct stats_row *rows;

	if (!ret)
		return -EINVAL;
	*ret = (struct stats_table){0};
	if (!csv)
		return errmsg_set(reterr, -EBADMSG, "show stat: empty reply");

	/* Header: "# pxname,svname,qcur,...," */
	nl = memchr(p, '\n', len);
	if (len < 9 || memcmp(p, "# pxname,", 9) != 0 || !nl) {
		size_t n = nl ? (size_t)(nl - p) : len;

		return errmsg_set(reterr, -EBADMSG, "show stat: no '# pxname,' header, got '%.*s'",
				  (int)(n > 80 ? 80 : n), p);
	}
	for (hp = p + 2; hp < nl;) {
		const char *c = memchr(hp, ',', (size_t)(nl - hp));
		const char *e = c ? c : nl;

		if (ncols == STATS_COLUMNS_MAX)
			return errmsg_set(reterr, -EMSGSIZE, "show stat: over %d columns",
					  STATS_COLUMNS_MAX);
		fields[ncols] = (uint8_t)column_field(hp, (size_t)(e - hp));
		has_px |= fields[ncols] == F_PXNAME;
		has_sv |= fields[ncols] == F_SVNAME;
		ncols++;
		hp = c ? c + 1 : nl;
	}
	if (!has_px || !has_sv)
		return errmsg_set(reterr, -EBADMSG, "show stat: header without pxname/svname");
	p = nl + 1;

	/* One allocation: count the rows first (the reply is in memory anyway). */
	for (const char *q = p; q < end;) {
		const char *n2 = memchr(q, '\n', (size_t)(end - q));
		const char *e = n2 ? n2 : end;

		lines += e > q;
		q = n2 ? n2 + 1 : end;
	}
	if (lines > STATS_ROWS_MAX)
		return errmsg_set(reterr, -EMSGSIZE, "show stat: over %d rows", STATS_ROWS_MAX);
	rows = calloc(lines ? lines : 1, sizeof(*rows));
	if (!rows)
		return errmsg_set(reterr, -ENOMEM, "show stat: out of memory for %zu rows", lines);

	while (p < end) {
		const char *e;
		size_t col = 0;

		nl = memchr(p, '\n', (size_t)(end - p));
		e = nl ? nl : end;
		lineno++;
		if (e > p && nrows < lines) {
			if (parse_row(p, e, fields, ncols, &rows[nrows], &col) < 0) {
				free(rows);
				return errmsg_set(reterr, -EBADMSG,
						  "show stat: line %zu, column %zu malformed",
						  lineno, col + 1);
			}
			if (!rows[nrows].proxy[0] || !rows[nrows].server[0]) {
				free(rows);
				return errmsg_set(reterr, -EBADMSG,
						  "show stat: line %zu without pxname/svname",
						  lineno);
			}
			nrows++;
		}
		p = nl ? nl + 1 : end;
	}
	ret->rows = rows;
	ret->n = nrows;
	return 0;
}

void stats_table_done(struct stats_table *t)
{
	if (!t)
		return;
	free(t->rows);
	*t = (struct stats_table){0};
}
