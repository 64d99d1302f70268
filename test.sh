#!/usr/bin/env bash
# Runs every test of HourNas.Services from a fresh clone on a fresh machine:
#   1. installs what is missing (Debian packages the tests need),
#   2. builds the solution and runs every test project,
#   3. prints one plain "N passed, N failed" line and exits non-zero on any failure.
# RabbitMQ and Redis, which the distributed tests use, are started here (private nodes on loopback, infra/local.sh)
# and stopped on exit, with any service process a test left behind.
#   ./test.sh          everything (about 5 minutes here)
#   ./test.sh --fast   the pure core, the experiment grain on Orleans' test host, the stage consumers on
#                      MassTransit's harness, the spec checks and the grain scenarios on the embedded silo: no broker,
#                      no Redis, no training (under a minute after a build)
set -uo pipefail
cd "$(dirname "$0")"
fast=0
[ "${1:-}" = "--fast" ] && fast=1
# The fast tier: the pure core's and the grain's projects whole, and the pipeline's test classes that need no
# broker, Redis or training (dotnet test filter).
FAST_PIPELINE_CLASSES=(StageConsumerTests SpecValidationTests DataRootTests ProgressIdempotencyTests SilentStageTests
  StageLeaseTests NoCallingOutTests SubmissionOverHttpTests ApiKeyTests AlertRuleTests)
fast_filter=$(printf 'FullyQualifiedName~%s|' "${FAST_PIPELINE_CLASSES[@]}")
FAST_TESTS=(
  "tests/HourNas.SearchSpace.Tests/HourNas.SearchSpace.Tests.csproj|"
  "tests/HourNas.Experiments.Tests/HourNas.Experiments.Tests.csproj|"
  "tests/HourNas.Pipeline.Tests/HourNas.Pipeline.Tests.csproj|${fast_filter%|}"
)

# Debian packages the test suite needs; installed only when missing.
APT_PACKAGES=(dataset-fashion-mnist rabbitmq-server redis-server fonts-dejavu-core prometheus libturbojpeg0)

log() { printf '[test.sh] %s\n' "$*" >&2; }

# A step before the tests failed: say which, and count it as the one failure.
abort() {
  log "$*"
  echo "0 passed, 1 failed"
  exit 1
}

ensure_apt_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
}

command -v dotnet >/dev/null 2>&1 || abort "dotnet SDK (10.0) not found on PATH: install it first"

ensure_apt_packages || abort "package install failed"

# Redocly's OpenAPI linter for OpenApiTests, pinned in tools/redocly (npm; Debian's nodejs when node is missing).
if [ ! -x tools/redocly/node_modules/.bin/redocly ]; then
  if ! command -v npm >/dev/null 2>&1; then
    APT_PACKAGES=(nodejs npm)
    ensure_apt_packages || abort "could not install nodejs and npm for the OpenAPI linter"
  fi
  log "installing the OpenAPI linter (tools/redocly)"
  npm ci --prefix tools/redocly --no-audit --no-fund --silent >/dev/null \
    || abort "could not install @redocly/cli into tools/redocly"
fi

results=$(mktemp -d)
# Outside $results (mode 700): the RabbitMQ node runs as the rabbitmq user and must reach its folder.
infra_dir=$(mktemp -d /tmp/hournas-infra.XXXXXX)
chmod 755 "$infra_dir"
cleanup() {
  infra/local.sh stop "$infra_dir" >/dev/null 2>&1 || true
  pkill -f "$PWD/services/HourNas\." 2>/dev/null || true
  # The Prometheus a distributed test starts (its config lives in the test's temp folder).
  pkill -f -- "hournas-pipeline-[0-9a-f]*/prometheus.yml" 2>/dev/null || true
  rm -rf "$results" "$infra_dir"
}
trap cleanup EXIT

# Build outputs hard-link libtorch and the other natives from the NuGet cache instead of copying them
# (Directory.Build.props): a copying build of the solution needs over 10 GB. Links need one file system, so when
# the cache lives on another one, restore into a cache beside the checkout (about 3 GB) instead.
package_cache="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
mkdir -p "$package_cache"
if [ "$(stat -c %d "$package_cache")" != "$(stat -c %d .)" ]; then
  export NUGET_PACKAGES="$PWD/.nuget-cache"
  log "the NuGet cache is on another file system; restoring into $NUGET_PACKAGES so the build can hard-link"
fi

# The style gate: lines of at most 120 characters (.editorconfig's max_line_length, which no formatter enforces);
# the build enforces the .editorconfig rules marked warning (EnforceCodeStyleInBuild), dotnet format the layout.
long_lines=$(git ls-files '*.cs' | xargs awk 'length > 120 { print FILENAME ":" FNR }')
[ -z "$long_lines" ] || abort "lines over 120 characters: $(echo $long_lines)"

log "building"
dotnet build HourNas.Services.sln -c Release -nologo -v quiet || abort "build failed"
if [ "$fast" -eq 0 ]; then
  log "checking the layout (dotnet format --verify-no-changes)"
  dotnet format HourNas.Services.sln --verify-no-changes --no-restore -v quiet \
    || abort "the code's layout differs from .editorconfig: run dotnet format HourNas.Services.sln"
fi

# The standalone trace dashboard (a NuGet package the dashboard test starts through infra/dashboard.sh): fetch it now,
# so the test's start-up wait does not include the download.
[ "$fast" -eq 1 ] || dotnet restore infra/dashboard/Dashboard.csproj -v quiet >/dev/null \
  || abort "could not fetch the Aspire dashboard package"

status=0
if [ "$fast" -eq 1 ]; then
  log "testing (fast tier)"
  for entry in "${FAST_TESTS[@]}"; do
    project=${entry%%|*}
    filter=${entry#*|}
    name=$(basename "$project" .csproj)
    dotnet test "$project" -c Release --no-build -nologo --results-directory "$results" \
      --logger "trx;LogFileName=$name.trx" -v quiet ${filter:+--filter "$filter"} || status=$?
  done
else
  log "starting RabbitMQ and Redis"
  infra_env=$(infra/local.sh start "$infra_dir") || abort "RabbitMQ or Redis did not start"
  eval "$infra_env"

  log "testing"
  for project in tests/*/*.csproj; do
    name=$(basename "$project" .csproj)
    dotnet test "$project" -c Release --no-build -nologo --results-directory "$results" \
      --logger "trx;LogFileName=$name.trx" -v quiet || status=$?
  done
fi

passed=0
failed=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done

# Name each failed test with the start of its message, so a CI log says what broke.
if [ "$failed" -gt 0 ] && command -v python3 >/dev/null 2>&1; then
  python3 - "$results"/*.trx <<'PY' >&2
import re, sys, html
for path in sys.argv[1:]:
    text = open(path, encoding="utf-8").read()
    for m in re.finditer(r'<UnitTestResult [^>]*testName="([^"]*)"[^>]*outcome="Failed"[^>]*>(.*?)</UnitTestResult>', text, re.S):
        message = re.search(r"<Message>(.*?)</Message>", m.group(2), re.S)
        print("FAILED " + html.unescape(m.group(1)))
        if message:
            print("\n".join("    " + l for l in html.unescape(message.group(1)).splitlines()[:15]))
PY
fi

# A non-zero exit with no failed test still is a failure (a crashed test host, say): count it.
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
