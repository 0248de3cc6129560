/*
 * suite_deploy.c - final/ as an operator installs and runs it: its
 * manual (final/lb.1) agrees with lb -h, make install puts lb, lb.1 and
 * the example unit (final/lb.service) where they belong and make
 * uninstall takes exactly those away, and lb tells systemd when it is
 * ready, reloading and stopping (the notify protocol, final/notify.c).
 *
 * The notify tests play systemd's side: a Unix datagram socket of the
 * test's own, named to lb in NOTIFY_SOCKET, read one datagram at a time.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <check.h>
#include <ctype.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "suites.h"

#define GET		"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
#define OPTS_MAX	64

/* ---- running things ---- */

/* final/, where lb is (LB names it), and a file there. */
static const char *
final_file(const char *name)
{
	static char path[512];
	const char *lb = h_lb_path(), *slash = strrchr(lb, '/');
	int dir = slash != NULL ? (int)(slash - lb) : 1;

	snprintf(path, sizeof(path), "%.*s/%s", dir, slash != NULL ? lb : ".",
	    name);
	return path;
}

/* sh -c cmd: its exit status, and what it wrote (both streams) in *out. */
static int
run(const char *cmd, char **out)
{
	char line[2048];
	char *argv[] = { "sh", "-c", line, NULL };
	struct h_proc *p;
	int status;

	snprintf(line, sizeof(line), "exec 2>&1; %s", cmd);
	p = h_spawn("sh", argv, 0);
	status = h_wait_exit(p, h_scaled(20000));
	*out = h_slurp(p->out);
	return status;
}

/* cmd must exit 0 and say nothing (a warning is a failure too). */
static void
run_quiet(const char *cmd)
{
	char *out;
	int status = run(cmd, &out);

	ck_assert_msg(status == 0 && out[0] == '\0', "'%s' exited %d, "
	    "saying: %s", cmd, status, out);
	free(out);
}

/* lb -h, as it prints it. */
static char *
help_text(void)
{
	char cmd[600], *out;

	snprintf(cmd, sizeof(cmd), "'%s' -h", h_lb_path());
	ck_assert_int_eq(run(cmd, &out), 0);
	return out;
}

/* ---- the manual and lb -h, as lists of options ---- */

/* One option: "-l", or a -t name ("connect="), and all it says. */
struct opt {
	char	key[24];
	char	text[4096];
};

/* lb -h or lb.1, read as its synopsis and its list of options. */
struct manual {
	char	synopsis[1024];
	struct opt opt[OPTS_MAX];
	int	n;
};

/* s after the text in to (n bytes), a blank between. */
static void
append(char *to, size_t n, const char *s)
{
	size_t len = strlen(to);

	snprintf(to + len, n - len, "%s%s", len > 0 ? " " : "", s);
}

/* A new option named key, and its first words. */
static void
add_opt(struct manual *m, const char *key, size_t keylen, const char *text)
{
	struct opt *o;

	ck_assert_int_lt(m->n, OPTS_MAX);
	o = &m->opt[m->n++];
	snprintf(o->key, sizeof(o->key), "%.*s", (int)keylen, key);
	snprintf(o->text, sizeof(o->text), "%s", text);
}

/* "-X" (a letter, then a blank, ']' or the end), or "name=": its length. */
static size_t
key_len(const char *s)
{
	size_t n;

	if (s[0] == '-' && isalpha((unsigned char)s[1]) &&
	    (s[2] == '\0' || s[2] == ' ' || s[2] == ']'))
		return 2;
	for (n = 0; islower((unsigned char)s[n]); n++)
		;
	return n > 0 && s[n] == '=' ? n + 1 : 0;
}

/*
 * lb -h: the synopsis until the first "  -X" line; then an option a
 * line "  -X ...", a -t name a line of 20 blanks and "name=", the rest
 * the option's text; the logs' part after the first empty line.
 */
static void
read_help(char *help, struct manual *m)
{
	char *line, *next;
	size_t k;

	memset(m, 0, sizeof(*m));
	for (line = help; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '\0')
			break;
		if (strncmp(line, "  -", 3) == 0 && key_len(line + 2) == 2)
			add_opt(m, line + 2, 2, line + 4);
		else if (strspn(line, " ") == 20 && m->n > 0 &&
		    (k = key_len(line + 20)) > 2)
			add_opt(m, line + 20, k, line + 20);
		else if (m->n > 0)
			append(m->opt[m->n - 1].text, sizeof(m->opt[0].text),
			    line);
		else
			append(m->synopsis, sizeof(m->synopsis), line);
	}
}

/* A roff escape at s (after its backslash): what it prints, its length. */
static size_t
unescape(const char *s, char *out)
{
	*out = '\0';
	switch (s[0]) {
	case '-': case 'e': case ' ': case '~':
		out[0] = s[0] == 'e' ? '\\' : s[0] == '-' ? '-' : ' ';
		out[1] = '\0';
		return 1;
	case 'f':	/* \fB, \f(CW: a font */
		return s[1] == '(' ? 4 : 2;
	case '(':	/* \(em: a character we need not read */
		return 3;
	case '\0':
		return 0;
	default:	/* \& \c \|: nothing */
		return 1;
	}
}

/*
 * A font macro's arguments as they print: .BR a "b c" is "ab c" (the
 * fonts alternate, no blank between), .B a b is "a b"; any other
 * macro prints nothing here.
 */
static void
macro_words(const char *line, char *out, size_t n)
{
	static const char *const fonts[] = { "B", "I", "BR", "BI", "IB",
	    "IR", "RB", "RI", NULL };
	size_t name = strcspn(line + 1, " ");
	const char *p, *w;
	int i, quoted;

	out[0] = '\0';
	for (i = 0; fonts[i] != NULL; i++)
		if (strlen(fonts[i]) == name &&
		    strncmp(line + 1, fonts[i], name) == 0)
			break;
	if (fonts[i] == NULL)
		return;
	for (p = line + 1 + name; *(p += strspn(p, " ")) != '\0'; ) {
		quoted = *p == '"';
		w = p + quoted;
		p = w + strcspn(w, quoted ? "\"" : " ");
		snprintf(out + strlen(out), n - strlen(out), "%s%.*s",
		    out[0] != '\0' && name == 1 ? " " : "", (int)(p - w), w);
		p += *p == '"';
	}
}

/* A line of lb.1 as its reader sees it: words, escapes printed. */
static void
plain(const char *line, char *out, size_t n)
{
	char words[1024], esc[4];
	size_t len = 0;

	if (line[0] == '.' || line[0] == '\'') {
		macro_words(line, words, sizeof(words));
		line = words;
	}
	for (; *line != '\0' && len + 2 < n; line++) {
		if (*line != '\\') {
			out[len++] = *line;
			continue;
		}
		line += unescape(line + 1, esc);
		len += (size_t)snprintf(out + len, n - len, "%s", esc);
	}
	out[len] = '\0';
}

/*
 * lb.1: the SYNOPSIS section's words; under OPTIONS, an option for
 * each .TP whose tag (the line after it) is "-X ..." or "name=...",
 * then its text up to the next .TP, .PP or section.
 */
static void
read_man(const char *path, struct manual *m)
{
	char *all = h_slurp(path), *line, *next, text[1024], section[32] = "";
	int tag = 0, in_opt = 0;
	size_t k;

	memset(m, 0, sizeof(*m));
	ck_assert_msg(all[0] != '\0', "no manual at %s", path);
	for (line = all; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, ".SH ", 4) == 0) {
			snprintf(section, sizeof(section), "%s", line + 4);
			in_opt = 0;
			continue;
		}
		if (strcmp(line, ".TP") == 0 || strcmp(line, ".PP") == 0) {
			tag = line[1] == 'T';
			in_opt = 0;
			continue;
		}
		plain(line, text, sizeof(text));
		if (strcmp(section, "SYNOPSIS") == 0)
			append(m->synopsis, sizeof(m->synopsis), text);
		else if (strcmp(section, "OPTIONS") != 0 || text[0] == '\0')
			continue;
		else if (tag && (k = key_len(text)) > 0) {
			add_opt(m, text, k, text);
			in_opt = 1;
		} else if (in_opt)
			append(m->opt[m->n - 1].text, sizeof(m->opt[0].text),
			    text);
		tag = 0;
	}
	free(all);
}

static const struct opt *
find_opt(const struct manual *m, const char *key)
{
	int i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->opt[i].key, key) == 0)
			return &m->opt[i];
	return NULL;
}

/*
 * The values text gives as "default VALUE", in *out as " V1 V2 ... ":
 * a blank each side of each, for strstr() to find " V ".
 */
static void
defaults_in(const char *text, char *out, size_t n)
{
	const char *p;
	size_t len;

	snprintf(out, n, " ");
	for (p = text; (p = strstr(p, "default ")) != NULL; p += len) {
		p += 8;
		len = strcspn(p, " ");
		while (len > 0 && strchr(")];,:.", p[len - 1]) != NULL)
			len--;
		snprintf(out + strlen(out), n - strlen(out), "%.*s ",
		    (int)len, p);
	}
}

/*
 * Every option of a is one of b's; with check_defaults, saying every
 * default a says too.
 */
static void
expect_covered(const struct manual *a, const char *a_name,
    const struct manual *b, const char *b_name, int check_defaults)
{
	char da[512], db[512], *v, *save;
	const struct opt *o;
	int i, checked = 0;

	for (i = 0; i < a->n; i++) {
		o = find_opt(b, a->opt[i].key);
		ck_assert_msg(o != NULL, "%s has %s, %s has not", a_name,
		    a->opt[i].key, b_name);
		if (!check_defaults)
			continue;
		defaults_in(a->opt[i].text, da, sizeof(da));
		defaults_in(o->text, db, sizeof(db));
		for (v = strtok_r(da, " ", &save); v != NULL;
		    v = strtok_r(NULL, " ", &save)) {
			char word[64];

			snprintf(word, sizeof(word), " %s ", v);
			ck_assert_msg(strstr(db, word) != NULL, "%s says %s "
			    "(default %s), %s says '%s'", a_name, o->key, v,
			    b_name, o->text);
			checked++;
		}
	}
	/* lb -h gives 22: far fewer, and this reading of it is broken. */
	ck_assert_msg(!check_defaults || checked >= 20, "only %d defaults "
	    "found in %s", checked, a_name);
}

/* The synopsis names each option letter the list has, and no other. */
static void
expect_synopsis_whole(const struct manual *m, const char *name)
{
	char in_synopsis[128] = { 0 }, listed[128] = { 0 };
	const char *p;
	int i, c;

	for (p = m->synopsis; *p != '\0'; p++)
		if ((p == m->synopsis || p[-1] == ' ' || p[-1] == '[') &&
		    key_len(p) == 2)
			in_synopsis[(unsigned char)p[1]] = 1;
	for (i = 0; i < m->n; i++)
		if (m->opt[i].key[0] == '-')
			listed[(unsigned char)m->opt[i].key[1]] = 1;
	for (c = 0; c < 128; c++)
		ck_assert_msg(in_synopsis[c] == listed[c], "%s: -%c is in its "
		    "%s but not in its %s", name, c, in_synopsis[c] ?
		    "synopsis" : "options", in_synopsis[c] ? "options" :
		    "synopsis");
}

/*
 * Neither lb -h nor lb.1 has an option the other lacks, each synopsis
 * names every option, and each default lb -h gives, lb.1 gives too
 * (lb.1 may say more: "(default select)" where lb -h says "select()
 * (default)").
 */
START_TEST(the_manual_and_lb_h_list_the_same_options)
{
	static struct manual help, man;
	char *text = help_text();

	read_help(text, &help);
	read_man(final_file("lb.1"), &man);
	ck_assert_int_gt(help.n, 15);
	expect_synopsis_whole(&help, "lb -h");
	expect_synopsis_whole(&man, "lb.1");
	expect_covered(&help, "lb -h", &man, "lb.1", 1);
	expect_covered(&man, "lb.1", &help, "lb -h", 0);
	free(text);
}
END_TEST

/*
 * What lb -h lists is what lb takes: each letter it lists is an option
 * lb knows (no "unknown option"), each other letter is refused as one.
 */
START_TEST(lb_takes_the_options_lb_h_lists_and_no_other)
{
	static struct manual help;
	char *text = help_text(), cmd[1024], *out, *line, *next, want[64];
	int n = 0, refused;

	read_help(text, &help);
	snprintf(cmd, sizeof(cmd), "for c in a b c d e f g h i j k l m n o p "
	    "q r s t u v w x y z A B C D E F G H I J K L M N O P Q R S T U V "
	    "W X Y Z; do echo \"$c: `'%s' -$c 2>&1 | head -1`\"; done",
	    h_lb_path());
	ck_assert_int_eq(run(cmd, &out), 0);
	for (line = out; line != NULL && *line != '\0'; line = next) {
		char key[3] = { '-', line[0], '\0' };

		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		snprintf(want, sizeof(want), "unknown option '-%c'", line[0]);
		refused = strstr(line, want) != NULL;
		if (find_opt(&help, key) != NULL)
			ck_assert_msg(!refused, "lb -h lists %s, lb refuses "
			    "it", key);
		else
			ck_assert_msg(refused, "lb takes %s, lb -h does not "
			    "list it: %s", key, line);
		n++;
	}
	ck_assert_int_eq(n, 52);
	free(out);
	free(text);
}
END_TEST

/* Both renderers read lb.1 without a warning. */
START_TEST(the_manual_renders_without_warnings)
{
	char cmd[700];

	if (h_need("mandoc", "mandoc")) {
		snprintf(cmd, sizeof(cmd), "mandoc -T lint -W all '%s'",
		    final_file("lb.1"));
		run_quiet(cmd);
	}
	if (h_need("groff", "groff-base")) {
		snprintf(cmd, sizeof(cmd), "groff -man -ww -z '%s'",
		    final_file("lb.1"));
		run_quiet(cmd);
	}
}
END_TEST

/* ---- make install, make uninstall ---- */

/*
 * make in final/, as a user types it, with the test's own variables.
 * -o lb: lb is what the suites test, as it was built (with SANITIZE=1,
 * say); install must copy it, never build another over it. The make
 * that runs these tests passes its own variables in MAKEFLAGS: not here.
 */
static void
make_final(const char *target, const char *vars)
{
	char cmd[1024];

	unsetenv("MAKEFLAGS");
	unsetenv("MFLAGS");
	unsetenv("MAKELEVEL");
	snprintf(cmd, sizeof(cmd), "make -s -o lb -C '%s' %s %s",
	    final_file(""), target, vars);
	run_quiet(cmd);
}

/* path is a regular file with this mode, and the same bytes as want. */
static void
expect_installed(const char *path, int mode, const char *want)
{
	struct stat st;
	char cmd[1200], *out;

	ck_assert_msg(stat(path, &st) == 0, "make install put no %s", path);
	ck_assert_msg(S_ISREG(st.st_mode) && (int)(st.st_mode & 07777) == mode,
	    "%s: mode %o, want %o", path, (int)(st.st_mode & 07777), mode);
	if (want == NULL)
		return;
	snprintf(cmd, sizeof(cmd), "cmp '%s' '%s'", want, path);
	ck_assert_int_eq(run(cmd, &out), 0);
	free(out);
}

/* The installed manual, as man -l shows it: whole, and no warning. */
static void
expect_rendered(const char *page)
{
	char cmd[700], *out;

	if (!h_need("man", "man-db"))
		return;
	snprintf(cmd, sizeof(cmd), "MANWIDTH=80 man -l '%s' 2>&1 >/dev/null "
	    "&& MANWIDTH=80 man -l '%s'", page, page);
	ck_assert_int_eq(run(cmd, &out), 0);
	ck_assert_msg(strncmp(out, "LB(1)", 5) == 0, "%s", out);
	ck_assert_msg(strstr(out, "load balancer with active health checks") !=
	    NULL && strstr(out, "SEE ALSO") != NULL, "%s", out);
	free(out);
}

/* What is left under dir once directories are not counted: "". */
static char *
files_under(const char *dir)
{
	char cmd[600], *out;

	snprintf(cmd, sizeof(cmd), "find '%s' ! -type d", dir);
	ck_assert_int_eq(run(cmd, &out), 0);
	return out;
}

/*
 * make install DESTDIR=...: lb (0755, the lb under test), lb.1 and the
 * example unit (0644) under DESTDIR/usr/local, the manual renders;
 * make uninstall: no file left, and lb's doc directory gone.
 */
START_TEST(install_puts_each_file_and_uninstall_takes_each_away)
{
	char dir[] = "/tmp/lb-install-XXXXXX", vars[128], path[256], *left;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(vars, sizeof(vars), "DESTDIR='%s'", dir);
	make_final("install", vars);
	snprintf(path, sizeof(path), "%s/usr/local/bin/lb", dir);
	expect_installed(path, 0755, h_lb_path());
	snprintf(path, sizeof(path), "%s/usr/local/share/man/man1/lb.1", dir);
	expect_installed(path, 0644, final_file("lb.1"));
	expect_rendered(path);
	snprintf(path, sizeof(path), "%s/usr/local/share/doc/lb/lb.service",
	    dir);
	expect_installed(path, 0644, final_file("lb.service"));
	make_final("uninstall", vars);
	left = files_under(dir);
	ck_assert_msg(left[0] == '\0', "make uninstall left %s", left);
	snprintf(path, sizeof(path), "%s/usr/local/share/doc/lb", dir);
	ck_assert_msg(access(path, F_OK) < 0, "make uninstall left %s", path);
	free(left);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	run_quiet(path);
}
END_TEST

/* lb -h's default for -t drain=, in ms. */
static long
drain_default(void)
{
	char *help = help_text(), *p = strstr(help, "drain=MS");
	long ms;

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(p = strstr(p, "(default "));
	ms = atol(p + 9);
	free(help);
	return ms;
}

/*
 * With PREFIX, the example unit's ExecStart names lb where PREFIX put
 * it; it waits for lb's drain deadline before it kills (the master's,
 * with -w N: 1 s more); and systemd-analyze verify has nothing to say
 * about it (MANPATH: Documentation=man:lb(1) is the page just installed).
 */
START_TEST(the_installed_unit_runs_the_installed_lb_and_waits_its_drain)
{
	char dir[] = "/tmp/lb-prefix-XXXXXX", vars[128], unit[256], want[300];
	char cmd[800], *text, *p;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(vars, sizeof(vars), "PREFIX='%s'", dir);
	make_final("install", vars);
	snprintf(unit, sizeof(unit), "%s/share/doc/lb/lb.service", dir);
	text = h_slurp(unit);
	snprintf(want, sizeof(want), "\nExecStart=%s/bin/lb ", dir);
	ck_assert_msg(strstr(text, want) != NULL, "no '%s' in %s", want + 1,
	    text);
	ck_assert_ptr_nonnull(strstr(text, "\nType=notify\n"));
	ck_assert_ptr_nonnull(strstr(text,
	    "\nExecReload=/bin/kill -HUP $MAINPID\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nKillSignal=SIGTERM\n"));
	ck_assert_ptr_nonnull(p = strstr(text, "\nTimeoutStopSec="));
	ck_assert_msg(atol(p + 16) * 1000 > drain_default() + 1000,
	    "TimeoutStopSec=%lds is not past lb's drain deadline", atol(p + 16));
	if (h_need("systemd-analyze", "systemd")) {
		snprintf(cmd, sizeof(cmd), "MANPATH='%s/share/man' "
		    "systemd-analyze verify '%s'", dir, unit);
		run_quiet(cmd);
	}
	free(text);
	make_final("uninstall", vars);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	run_quiet(cmd);
}
END_TEST

/* ---- the notify protocol: the test is systemd ---- */

/*
 * systemd's end: a Unix datagram socket bound to a path of the test's
 * (in the log directory), or with abstract set, to a name in Linux's
 * abstract namespace ("@name" in NOTIFY_SOCKET). The name for
 * NOTIFY_SOCKET in env; -1 if this system cannot bind it.
 */
static int
notify_socket(int abstract, char *env, size_t n)
{
	const char *dir = getenv("H_LOGDIR");
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (abstract)
		snprintf(env, n, "@lb-test-notify-%ld", (long)getpid());
	else
		snprintf(env, n, "%s/notify-%ld.sock", dir != NULL ? dir :
		    "/tmp", (long)getpid());
	ck_assert_uint_lt(strlen(env), sizeof(sa.sun_path));
	memcpy(sa.sun_path, env, strlen(env));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(env) + !abstract);
	if (abstract)
		sa.sun_path[0] = '\0';
	else
		unlink(env);
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_DGRAM, 0), 0);
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		ck_assert_msg(abstract, "cannot bind %s", env);
		close(fd);
		return -1;
	}
	return fd;
}

/* The next datagram on fd, NUL-terminated in buf; 0 if none came in ms. */
static int
next_message(int fd, char *buf, size_t n, int ms)
{
	struct pollfd pfd;
	ssize_t r;

	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	ck_assert_int_gt(r = recv(fd, buf, n - 1, 0), 0);
	buf[r] = '\0';
	return 1;
}

/* The next datagram begins with the line want; it is left in buf. */
static void
expect_message(int fd, const char *want, char *buf, size_t n)
{
	size_t len = strlen(want);

	ck_assert_msg(next_message(fd, buf, n, h_scaled(5000)),
	    "systemd never heard %s", want);
	ck_assert_msg(strncmp(buf, want, len) == 0 && (buf[len] == '\n' ||
	    buf[len] == '\0'), "systemd heard '%s', not %s", buf, want);
}

/* A backend file of the test's, naming be: for lb -f, and a reload. */
static const char *
backend_file(const struct h_proc *be)
{
	static char path[200];
	const char *dir = getenv("H_LOGDIR");
	FILE *f;

	snprintf(path, sizeof(path), "%s/deploy-%ld.list", dir != NULL ? dir :
	    "/tmp", (long)getpid());
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "127.0.0.1:%d\n", be->port);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* A request through lb, at once: it must be served. */
static void
expect_served(const struct h_proc *lb)
{
	struct h_resp r;

	ck_assert_int_eq(h_request(lb->port, GET, &r), 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
}

/*
 * lb's life as systemd sees it: READY=1 once it listens (a request at
 * once is served), RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 on
 * SIGTERM, and not one datagram more: with -w 2 the workers, which stop
 * too, say nothing.
 */
static void
notify_life(const char *workers, int abstract)
{
	char name[120], msg[512], want[64];
	char *args[] = { "-f", NULL, "-w", (char *)workers, NULL };
	struct h_proc *b1, *lb;
	int fd;

	if ((fd = notify_socket(abstract, name, sizeof(name))) < 0) {
		h_skip("no abstract Unix socket names here (Linux has them)");
		return;
	}
	b1 = h_backend("b1", "-q", NULL);
	args[1] = (char *)backend_file(b1);
	if (workers == NULL)
		args[2] = NULL;
	setenv("NOTIFY_SOCKET", name, 1);
	lb = h_lb_start(args);
	unsetenv("NOTIFY_SOCKET");
	expect_message(fd, "READY=1", msg, sizeof(msg));
	expect_served(lb);
	snprintf(want, sizeof(want), "STATUS=serving on 127.0.0.1:%d",
	    lb->port);
	ck_assert_msg(strstr(msg, want) != NULL, "READY=1 without '%s': %s",
	    want, msg);
	ck_assert_int_eq(kill(lb->pid, SIGHUP), 0);
	expect_message(fd, "RELOADING=1", msg, sizeof(msg));
	expect_message(fd, "READY=1", msg, sizeof(msg));
	ck_assert_ptr_nonnull(strstr(msg, "reloaded"));
	expect_served(lb);
	ck_assert_int_eq(kill(lb->pid, SIGTERM), 0);
	expect_message(fd, "STOPPING=1", msg, sizeof(msg));
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	ck_assert_msg(!next_message(fd, msg, sizeof(msg), 200),
	    "systemd heard more: %s", msg);
	close(fd);
	if (!abstract)
		unlink(name);
}

START_TEST(lb_tells_systemd_ready_reloading_and_stopping)
{
	notify_life(NULL, 0);
}
END_TEST

START_TEST(with_workers_the_master_alone_tells_systemd)
{
	notify_life("2", 0);
}
END_TEST

START_TEST(lb_tells_systemd_at_an_abstract_name)
{
	notify_life(NULL, 1);
}
END_TEST

/*
 * NOTIFY_SOCKET names a socket nobody reads (systemd gone, say): lb
 * serves, reloads and stops as ever, each message it could not send one
 * line in the event log.
 */
START_TEST(a_notify_socket_nobody_reads_breaks_nothing)
{
	char name[120];
	struct h_proc *b1, *lb;
	char *args[] = { "-f", NULL, NULL }, *err, *p;
	int fd, lines = 0;

	fd = notify_socket(0, name, sizeof(name));
	close(fd);		/* the path stays: a socket nobody holds */
	b1 = h_backend("b1", "-q", NULL);
	args[1] = (char *)backend_file(b1);
	setenv("NOTIFY_SOCKET", name, 1);
	lb = h_lb_args(args);
	unsetenv("NOTIFY_SOCKET");
	expect_served(lb);
	ck_assert_int_eq(kill(lb->pid, SIGHUP), 0);
	ck_assert(h_wait_for_text(lb->err, "reload of", h_scaled(3000)));
	expect_served(lb);
	ck_assert_int_eq(kill(lb->pid, SIGTERM), 0);
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	err = h_slurp(lb->err);
	for (p = err; (p = strstr(p, "lb: cannot tell systemd ")) != NULL; p++)
		lines++;
	ck_assert_msg(lines == 4 && strstr(err, "cannot tell systemd "
	    "READY=1 (NOTIFY_SOCKET=") != NULL, "want 4 lines (READY, "
	    "RELOADING, READY, STOPPING), got %d: %s", lines, err);
	free(err);
	unlink(name);
}
END_TEST

/*
 * No NOTIFY_SOCKET: lb sends nothing anywhere (not to a default socket
 * of its own guessing), and says nothing of systemd.
 */
START_TEST(without_notify_socket_lb_tells_nobody)
{
	char name[120], msg[512], *err;
	struct h_proc *b1, *lb;
	int fd;

	fd = notify_socket(0, name, sizeof(name));
	unsetenv("NOTIFY_SOCKET");
	b1 = h_backend("b1", "-q", NULL);
	lb = h_lb(1, &b1, NULL);
	expect_served(lb);
	ck_assert_int_eq(kill(lb->pid, SIGHUP), 0);
	ck_assert(h_wait_for_text(lb->err, "SIGHUP", h_scaled(3000)));
	ck_assert_int_eq(kill(lb->pid, SIGTERM), 0);
	ck_assert_int_eq(h_wait_exit(lb, h_scaled(5000)), 0);
	ck_assert_msg(!next_message(fd, msg, sizeof(msg), 200),
	    "nobody asked, yet lb said: %s", msg);
	err = h_slurp(lb->err);
	ck_assert_msg(strstr(err, "systemd") == NULL &&
	    strstr(err, "NOTIFY") == NULL, "%s", err);
	free(err);
	close(fd);
	unlink(name);
}
END_TEST

Suite *
deploy_suite(void)
{
	const TTest *const tests[] = {
		the_manual_and_lb_h_list_the_same_options,
		lb_takes_the_options_lb_h_lists_and_no_other,
		the_manual_renders_without_warnings,
		install_puts_each_file_and_uninstall_takes_each_away,
		the_installed_unit_runs_the_installed_lb_and_waits_its_drain,
		lb_tells_systemd_ready_reloading_and_stopping,
		with_workers_the_master_alone_tells_systemd,
		lb_tells_systemd_at_an_abstract_name,
		a_notify_socket_nobody_reads_breaks_nothing,
		without_notify_socket_lb_tells_nobody,
		NULL
	};

	return h_suite("deploy", tests, NULL);
}
