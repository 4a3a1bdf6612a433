#!/usr/bin/env python3
"""Cut GNU parallel's local test scripts into one case per command line.

Used by bench/gnu-suite.sh.  Reads testsuite/tests-to-run/*.sh under the
directory given as argv[1] and writes one directory per case under argv[2]:
  name     file:function:line
  prelude  the file's top-level lines that set things up (helpers, cd, env)
  setup    the lines of the same function before the case that do not run
           parallel (they create the files the case reads)
  case     the command line that invokes `parallel`
and prints "N cases, K skipped" with the reasons of the skips on stderr.

A case is skipped when it needs what this bench cannot or should not run:
remote hosts, {= perl =} expressions (and --rpl/--filter, also Perl), SQL,
the network, GNU parallel's companion tools (sem, parset, env_parallel,
niceload, parcat, parsort) or a command that is not installed.
"""
import os
import re
import shutil
import subprocess
import sys
from collections import Counter

SRC, OUT = sys.argv[1], sys.argv[2]
TESTS = os.path.join(SRC, "tests-to-run")

FUNC_DEF = re.compile(r"\s*(function\s+)?[\w.:+-]+\s*\(\)\s*(\{|$)")
PAR = re.compile(r"(?<![-\w./$])parallel(?![-\w.])")

SKIP = [
    ("remote", re.compile(r"--sshlogin|(^|\s)-S\s*\S|--slf|--sshloginfile|"
                          r"--transfer|--trc|--return\b|--cleanup|--basefile|"
                          r"(^|\s)--bf\s|--nonall|--onall|--controlmaster|"
                          r"--ssh\b|--hostgroup|\$SERVER|\bssh\b|\blsh\b|"
                          r"--workdir|--wd\b|--tf\b|--transferfile|"
                          r"parallel@|@lo\b|localhost|--sshdelay")),
    ("perl-expr", re.compile(r"\{=|=\}|--rpl\b|--filter\b|--perlexpr")),
    ("sql", re.compile(r"--sql|\bsql\b|\bmysql\b|\bpsql\b|sqlite|"
                       r"--sqlmaster|--sqlworker|--sqlandworker")),
    ("network", re.compile(r"https?://|\bftp\b|\bwget\b|\bcurl\b|\bnc\b|"
                           r"\blynx\b|\bping\b")),
    ("companion", re.compile(r"\bsem\b|\bparset\b|env_parallel|\bniceload\b|"
                             r"\bparcat\b|\bparsort\b|--semaphore|"
                             r"\bsql\b|--tmux|--embed|--shebang|"
                             r"--citation|--bibtex|--version|--minversion|"
                             r"\bsemaphore\b|/usr/bin/parallel|"
                             r"src/parallel|\bvalgrind\b|\bvmstat\b")),
    ("interactive", re.compile(r"--tty\b|--interactive|(^|\s)-p\s|--fg\b|"
                               r"\bscript -q|--open-tty|(^|\s)-o\s")),
]

# Commands this machine may lack; a case naming one that is not installed
# is skipped rather than counted as a mismatch.
MAYBE_MISSING = ["zsh", "ksh", "mksh", "fish", "csh", "tcsh", "ash", "dash",
                 "yash", "posh", "rc", "sash", "pwsh", "R", "octave", "gawk",
                 "mawk", "tac", "pv", "stdout", "timestamp", "mop", "vmstat",
                 "nice", "faketime", "gpg", "burnP6", "php", "ruby", "python",
                 "python2", "lua", "nodejs", "node", "tcl", "tclsh", "emacs",
                 "zstd", "lz4", "xz", "lzop", "pzstd", "pbzip2", "lbzip2",
                 "pigz", "pixz", "plzip", "lrz", "bzip2", "gzip", "zip",
                 "7z", "clzip", "xdotool", "tmux", "screen", "mutt",
                 "bash-completion", "ash", "unbuffer", "expect", "dc", "bc",
                 "jq", "bzcat", "mawk", "strace", "ltrace", "shellcheck",
                 "sshpass", "xsel", "memusg", "dummy"]


def installed(cmd):
    return shutil.which(cmd) is not None


MISSING = {c for c in MAYBE_MISSING if not installed(c)} - {"stdout"}


def unquoted(s):
    """The text of s with quoted strings blanked: `echo '### parallel'` does
    not run parallel."""
    s = re.sub(r"'[^']*'", "''", s)
    s = re.sub(r'"(\\.|[^"\\])*"', '""', s)
    return s


def bash_ok(text):
    r = subprocess.run(["bash", "-n"], input=text.encode(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return r.returncode == 0 and b"here-document" not in r.stderr


def logical_lines(lines):
    """Yield (first line number, text) of each complete shell command."""
    buf, start, heredoc = [], 0, None
    for no, line in lines:
        if not buf:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = no
        buf.append(line)
        if heredoc:
            if line.strip() == heredoc:
                heredoc = None
            else:
                continue
        else:
            m = re.findall(r"<<-?\s*['\"]?(\w+)['\"]?", unquoted(line))
            if m and "<<<" not in line:
                heredoc = m[-1]
                continue
        s = line.rstrip()
        if s.endswith(("\\", "|", "&&", "||", "(", "{")) or s.endswith(" do") \
                or s.endswith(" then"):
            continue
        text = "\n".join(buf)
        if bash_ok(text):
            yield start, text
            buf = []
    if buf:
        yield start, "\n".join(buf)


def split_file(text):
    """Top-level logical lines and functions: [(kind, name, no, text)]."""
    lines = list(enumerate(text.split("\n"), 1))
    items = []
    for no, t in logical_lines(lines):
        m = re.match(r"\s*(function\s+)?([\w.:+-]+)\s*\(\)\s*\{?", t)
        if m and "\n" in t:
            items.append(("func", m.group(2), no, t))
        else:
            items.append(("top", "", no, t))
    return items


def func_body(text):
    body = text.split("\n")
    first = body[0]
    head = re.match(r"\s*(function\s+)?[\w.:+-]+\s*\(\)\s*\{?", first)
    rest = first[head.end():]
    lines = ([rest] if rest.strip() else []) + body[1:]
    # drop the closing brace
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and lines[-1].strip() == "}":
        lines.pop()
    return lines


def is_runner(t):
    """The file's own driver line: feeds the test functions to parallel."""
    return "compgen" in t or "$(basename $0)" in t or "`basename $0`" in t


def skip_reason(t):
    for reason, rx in SKIP:
        if rx.search(t):
            return reason
    words = set(re.findall(r"(?<![-\w./$])([\w.+-]+)", unquoted(t)))
    miss = sorted(words & MISSING)
    if miss:
        return "missing:" + miss[0]
    return None


def heredoc_cases(t):
    """The lines of `cat <<'EOF' | ... parallel -L1` driver: each is a job;
    a line ending in ';' (or a blank) goes on to the next, as -L1 does."""
    lines = t.split("\n")[1:-1]
    out, buf, start = [], [], 0
    for i, line in enumerate(lines):
        if not buf:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = i
        buf.append(line)
        if line.endswith((";", " ", "\t")):
            continue
        out.append((start, "\n".join(buf)))
        buf = []
    if buf:
        out.append((start, "\n".join(buf)))
    return out


def main():
    files = sorted(f for f in os.listdir(TESTS)
                   if f.startswith("parallel-local") and f.endswith(".sh")
                   and not re.search(r"ssh|sql|parsort|utf8", f))
    n, skipped = 0, Counter()
    os.makedirs(OUT, exist_ok=True)

    def emit(name, prelude, setup, case):
        nonlocal n
        r = skip_reason(case) or skip_reason(setup)
        if r:
            skipped[r.split(":")[0]] += 1
            return
        n += 1
        d = os.path.join(OUT, "%04d" % n)
        os.makedirs(d, exist_ok=True)
        for k, v in (("name", name), ("prelude", prelude), ("setup", setup),
                     ("case", case)):
            with open(os.path.join(d, k), "w") as f:
                f.write(v + "\n")

    for fn in files:
        text = open(os.path.join(TESTS, fn), encoding="utf-8",
                    errors="surrogateescape").read()
        items = split_file(text)
        prelude = []
        for kind, name, no, t in items:
            if kind == "func" and not name.startswith("par_"):
                prelude.append(t)
            elif kind == "top" and not is_runner(t) and not PAR.search(
                    unquoted(t)) and not t.lstrip().startswith("export -f $("):
                prelude.append(t)
        prelude_s = "\n".join(prelude)
        for kind, name, no, t in items:
            if kind == "func" and name.startswith("par_"):
                setup = []
                for lno, lt in logical_lines(
                        list(enumerate(func_body(t), no))):
                    # a helper function defined in the test is set-up,
                    # even when its body runs parallel
                    if PAR.search(unquoted(lt)) and not FUNC_DEF.match(lt):
                        emit("%s:%s:%d" % (fn, name, lno), prelude_s,
                             "\n".join(setup), lt)
                    else:
                        setup.append(lt)
            elif kind == "top" and t.startswith("cat <<") and PAR.search(
                    t.split("\n")[0]):
                for lno, lt in heredoc_cases(t):
                    if PAR.search(unquoted(lt)) or PAR.search(lt.split()[0] if lt.split() else ""):
                        emit("%s:heredoc:%d" % (fn, no + 1 + lno), prelude_s,
                             "", lt)
    print("%d cases, %d skipped (%s)" % (
        n, sum(skipped.values()),
        ", ".join("%s %d" % kv for kv in sorted(skipped.items()))),
        file=sys.stderr)


main()
