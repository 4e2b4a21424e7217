#!/usr/bin/env bash
# peer-bench.sh: validate the synthetic catalog with samverk and with its peers, `cue vet` (the
# same schemas) and `conftest` (the same Rego policies), and print each one's figures and the
# ratio. The peers are installed from the Go module proxy at the versions below.
#
#   engine/synth/peer-bench.sh            # or: make bench-peers
#   RUNS=5 SYNTH_DIR=bin/synth-catalog engine/synth/peer-bench.sh
#
# Runs alternate (samverk, peers, samverk, ...) so a shared machine's drift hits both alike;
# medians are printed. conftest sees samverk's policies rewritten to read the catalog from a
# small package that builds samverk's policy input (documents by kind, the inventory) out of
# conftest's combined input: the same rules over the same documents. Waivers are samverk's
# own Go code, so conftest reports the waived findings as failures (on the clean synthetic
# catalog exactly the ones samverk reports as waived).
set -euo pipefail

CUE_VERSION=${CUE_VERSION:-v0.17.1}
CONFTEST_VERSION=${CONFTEST_VERSION:-v0.71.1}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${WORK:-$(mktemp -d)}
BIN=$WORK/bin
mkdir -p "$BIN"
cd "$ROOT"

echo "installing cue $CUE_VERSION and conftest $CONFTEST_VERSION into $BIN" >&2
GOBIN=$BIN go install "cuelang.org/go/cmd/cue@$CUE_VERSION"
GOBIN=$BIN go install "github.com/open-policy-agent/conftest@$CONFTEST_VERSION"
go build -o "$BIN/samverk" ./engine/cmd/samverk

CATALOG=${SYNTH_DIR:-$WORK/catalog}
if [ ! -d "$CATALOG" ]; then
	mkdir -p "$(dirname "$CATALOG")"
	go test ./engine/synth -run TestWriteSynth -count=1 -synth.out="$(cd "$(dirname "$CATALOG")" && pwd)/$(basename "$CATALOG")" >/dev/null
fi
CATALOG=$(cd "$CATALOG" && pwd)

# cue vet takes one definition a call: group the files holding documents of one kind only.
LISTS=$WORK/kinds
rm -rf "$LISTS" && mkdir -p "$LISTS"
mixed=0
while IFS= read -r f; do
	kinds=$(grep -h '^kind: ' "$f" | sort -u)
	if [ "$(printf '%s\n' "$kinds" | wc -l)" -ne 1 ]; then
		mixed=$((mixed + 1))
		continue
	fi
	printf '%s\n' "$f" >>"$LISTS/${kinds#kind: }"
done < <(find "$CATALOG" -name '*.yaml' -type f | sort)
[ "$mixed" -eq 0 ] || echo "cue vet skips $mixed files holding more than one kind" >&2

# The policies for conftest: input.X read from data.samverk.peer.X instead.
POL=$WORK/policies
rm -rf "$POL" && mkdir -p "$POL"
(cd policies && find . -name '*.rego' ! -name '*_test.rego') | while IFS= read -r f; do
	mkdir -p "$POL/$(dirname "$f")"
	sed 's/\binput\./data.samverk.peer./g' "policies/$f" >"$POL/$f"
done
cat >"$POL/peer.rego" <<'REGO'
package samverk.peer

kinds := {"OSRelease", "HardwareModel", "Package", "Baseline", "Service", "Member", "DeviceGroup", "Waiver", "RolloutPolicy"}

as_list(c) := c if is_array(c)

as_list(c) := [c] if not is_array(c)

all_docs := [d | some f in input; some d in as_list(f.contents); is_object(d)]

key(d) := sprintf("%s/%s", [d.metadata.namespace, d.metadata.name]) if d.metadata.namespace

key(d) := d.metadata.name if not d.metadata.namespace

documents := {k: [d | some d in all_docs; d.kind == k] | some k in kinds}

by_kind := {k: {key(d): d | some d in all_docs; d.kind == k} | some k in kinds}

products := {p: {d.metadata.name: d | some d in all_docs; d.kind == "Package"; d.spec.product == p} |
	some pkg in all_docs
	pkg.kind == "Package"
	p := pkg.spec.product
}

inventory := object.union(by_kind, {"products": products})

now := "TODAYT00:00:00Z"

today := "TODAY"
REGO
sed -i "s/TODAY/$(date -u +%Y-%m-%d)/g" "$POL/peer.rego"

peers() {
	for list in "$LISTS"/*; do
		xargs -a "$list" "$BIN/cue" vet -c ./schemas/*.cue -d "#$(basename "$list")" || true
	done
	# One call over the whole directory: --combine must see every document at once.
	"$BIN/conftest" test --combine --all-namespaces --no-color -o json -p "$POL" "$CATALOG" >/dev/null || true
}
export -f peers
export LISTS BIN CATALOG POL

# One run: wall seconds, user+sys seconds, peak RSS in MiB.
measure() {
	/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >/dev/null 2>&1 || true
	awk '{printf "%.2f %.2f %.0f\n", $1, $2 + $3, $4 / 1024}' "$WORK/time"
}

: >"$WORK/samverk.txt"
: >"$WORK/peers.txt"
for i in $(seq "$RUNS"); do
	echo "run $i of $RUNS" >&2
	measure "$BIN/samverk" validate -q "$CATALOG" >>"$WORK/samverk.txt"
	measure bash -c peers >>"$WORK/peers.txt"
done

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
col() { awk -v c="$2" '{print $c}' "$1" | median; }
docs=$(grep -rh '^kind: ' "$CATALOG" | wc -l)
printf '%s documents, %s runs each, medians\n' "$docs" "$RUNS"
printf '%-26s %8s %8s %9s\n' "" "wall s" "CPU s" "RSS MiB"
for who in samverk peers; do
	printf '%-26s %8s %8s %9s\n' "$who" "$(col "$WORK/$who.txt" 1)" "$(col "$WORK/$who.txt" 2)" "$(col "$WORK/$who.txt" 3)"
done
awk -v sw="$(col "$WORK/samverk.txt" 1)" -v pw="$(col "$WORK/peers.txt" 1)" \
	-v sc="$(col "$WORK/samverk.txt" 2)" -v pc="$(col "$WORK/peers.txt" 2)" \
	'BEGIN {printf "ratio peers/samverk: wall %.1fx, CPU %.1fx\n", pw / sw, pc / sc}'
