# t/lib-names.sh - names a sandbox picks to attack whoever reads rls's
# output (t/087x), and the checks that the output stayed safe; after lib.sh.
#
#   NAMES                 the attack names, one per array element
#   safe_text             reads stdin; true when it is well-formed UTF-8 with
#                         no control but newline and tab, no DEL, no C1
#                         control and no format (bidi, invisible) character;
#                         else says where the first offender is
#   quoted NAME           the name as rls prints it (git's quoting)
#   json_has_names FILE PY-EXPR   every JSON line (or object) of FILE parses
#                         with Python's strict json, and PY-EXPR holds of it,
#                         with the names decoded back to bytes (a value that
#                         begins with a double quote is a quoted name)

NAMES=(
	$'\e[2J\e]0;owned\a.txt'	# clear the screen, retitle the window
	$'c1-\xc2\x9b31m.txt'		# C1 CSI, the 8-bit ESC [
	$'bad-\xff\xfe.txt'		# not UTF-8
	$'rlo-\xe2\x80\xaetxt.exe'	# a right-to-left override: shows as "rlo-exe.txt"
	$'lri-\xe2\x81\xa6x\xe2\x81\xa9'	# an isolate and its pop
)

safe_text() {
	python3 -c '
import sys, unicodedata
data = sys.stdin.buffer.read()
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    print("# not UTF-8 at byte %d: %r" % (e.start, data[max(0, e.start - 20):e.start + 20]))
    sys.exit(1)
for i, ch in enumerate(text):
    if ch in "\n\t":
        continue
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
        print("# U+%04X at character %d: %r" % (ord(ch), i, text[max(0, i - 20):i + 20]))
        sys.exit(1)
'
}

# What rls_quote_name prints, written out here independently (git's rules).
quoted() {
	python3 -c '
import sys, unicodedata
name = sys.argv[1].encode("utf-8", "surrogateescape")
esc = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 34: "\\\"", 92: "\\\\"}
out, need, i = "", False, 0
while i < len(name):
    for n in (1, 2, 3, 4):
        try:
            ch = name[i:i + n].decode("utf-8")
            break
        except UnicodeDecodeError:
            ch = None
    if ch is None or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or ch in "\"\\":
        need = True
        raw = name[i:i + 1] if ch is None else ch.encode("utf-8")
        out += "".join(esc.get(b, "\\%03o" % b) for b in raw)
        i += len(raw)
    else:
        out += ch
        i += len(ch.encode("utf-8"))
print("\"%s\"" % out if need else out, end="")
' "$1"
}

json_has_names() {
	python3 -c '
import json, sys
names = [n.encode("utf-8", "surrogateescape") for n in sys.argv[3:]]
def b(s):
    # rls writes a name that is not UTF-8 (or begins with a double quote)
    # as its quoted form: C escapes between double quotes.
    if not s.startswith("\""):
        return s.encode("utf-8")
    out, i, body = bytearray(), 0, s[1:-1].encode("utf-8")
    esc = {ord("a"): 7, ord("b"): 8, ord("t"): 9, ord("n"): 10, ord("v"): 11, ord("f"): 12, ord("r"): 13,
           ord("\""): 34, ord("\\"): 92}
    while i < len(body):
        c = body[i]
        if c != 92:
            out.append(c); i += 1
        elif body[i + 1] in esc:
            out.append(esc[body[i + 1]]); i += 2
        else:
            out.append(int(body[i + 1:i + 4], 8)); i += 4
    return bytes(out)
with open(sys.argv[1], "rb") as f:
    raw = f.read()
docs = [json.loads(line.decode("utf-8")) for line in raw.splitlines() if line.strip()]
if eval(sys.argv[2]):
    sys.exit(0)
print("# %r" % docs)
sys.exit(1)
' "$@"
}
