#!/usr/bin/env bash
# Fails when a crate appears in two versions in the normal (non-dev, non-build) dependency
# graph, unless ALLOWED below names it with its versions and the reason.
#
#   scripts/check-duplicates.sh [CARGO TREE OPTIONS]     e.g. --manifest-path other/Cargo.toml
#
# One HTTP stack, one TLS stack, one crypto library: the crates in STACK may never appear twice
# and may not be allowed, and ring and aws-lc-rs may not both be linked. A second hyper/rustls
# usually means an SDK crate's default features (its legacy hyper 0.14 connector) came back.
# Exit status: 0 clean, 1 a duplicate that is not allowed, 2 the check itself could not run.
set -euo pipefail
cd "$(dirname "$0")/.."

# The HTTP/TLS/crypto stack: never two versions, never in ALLOWED.
STACK=(hyper hyper-util hyper-rustls http http-body h2 rustls rustls-webpki tokio-rustls
    ring aws-lc-rs aws-lc-sys)
# Crypto libraries: at most one of them.
CRYPTO=(ring aws-lc-rs)

# Allowed duplicates: crate name, then the exact major versions ("0.x" below 1.0) allowed.
# A further major version of an allowed crate fails too. Each one is outside our direct control
# and costs compile time only or a few kilobytes; keep this list short and the reasons true.
declare -A ALLOWED=(
    # Compile time only: proc-macro crates (clap_derive, displaydoc, ...) moved to syn 3 while
    # serde_derive, thiserror-impl and others are on syn 2. Not linked into the binary.
    [syn]="2 3"
    # aws-sigv4 (sha2, hmac) and md-5 (the Content-MD5 some S3 Control calls require) use the
    # RustCrypto 0.11 generation (digest 0.11); sha1 0.10, which names aws-config's SSO token
    # cache files, is on digest 0.10. Small pure-Rust crates, no second crypto provider.
    [digest]="0.10 0.11"
    [block-buffer]="0.10 0.12"
    [crypto-common]="0.1 0.2"
    [cpufeatures]="0.2 0.3"
    # rand 0.9 (our backoff jitter) uses getrandom 0.3; uuid (aws-runtime invocation ids,
    # tokio-cron-scheduler job ids) uses getrandom 0.4. A thin wrapper over getrandom(2).
    [getrandom]="0.3 0.4"
    # governor 0.10 depends on hashbrown 0.16 unconditionally; indexmap (in h2) is on 0.17.
    # Generic code, compiled twice, no shared state.
    [hashbrown]="0.16 0.17"
)

die() { printf 'check-duplicates: %s\n' "$*" >&2; exit 2; }

major() { # 1.2.3 -> 1, 0.14.2 -> 0.14, 0.0.7 -> 0.0.7
    local v=${1#v}
    v=${v%%+*}
    v=${v%%-*}
    local a b c
    IFS=. read -r a b c <<<"$v"
    if [[ $a != 0 ]]; then echo "$a"; elif [[ $b != 0 ]]; then echo "0.$b"; else echo "0.0.$c"; fi
}

in_list() { # NEEDLE ITEMS...
    local n=$1 x
    shift
    for x in "$@"; do [[ $x == "$n" ]] && return 0; done
    return 1
}

for name in "${!ALLOWED[@]}"; do
    in_list "$name" "${STACK[@]}" && die "ALLOWED names $name, which is part of the HTTP/TLS stack and may never be duplicated"
done

CARGO_ARGS=("$@")
graph=$(cargo tree --locked -e normal --prefix none --format '{p}' "${CARGO_ARGS[@]}") || die "cargo tree failed"

# name -> space-separated versions, from the unique "name vX.Y.Z ..." lines.
declare -A versions=()
while read -r name version _; do
    [[ -n $name && $version == v* ]] || continue
    case " ${versions[$name]:-} " in
        *" $version "*) ;;
        *) versions[$name]="${versions[$name]:-} $version" ;;
    esac
done < <(printf '%s\n' "$graph" | sort -u)

failed=0
report() { # NAME MESSAGE
    printf 'FAIL  %s: %s\n' "$1" "$2"
    local v
    for v in ${versions[$1]}; do
        printf '      %s %s is pulled by:\n' "$1" "$v"
        cargo tree --locked -e normal -i "$1@${v#v}" --depth 2 "${CARGO_ARGS[@]}" 2>/dev/null |
            sed 's/^/        /' | head -8 || true
    done
    failed=1
}

crates=0
for name in $(printf '%s\n' "${!versions[@]}" | sort); do
    read -ra vs <<<"${versions[$name]}"
    crates=$((crates + ${#vs[@]}))
    ((${#vs[@]} > 1)) || continue
    majors=$(for v in "${vs[@]}"; do major "$v"; done | sort -u | tr '\n' ' ')
    majors=${majors% }
    if in_list "$name" "${STACK[@]}"; then
        report "$name" "two versions of the HTTP/TLS stack (${versions[$name]# }). Make every dependency use one: check the features of aws-sdk-*/aws-config (default-features = false drops the legacy hyper 0.14 connector)"
    elif [[ -z ${ALLOWED[$name]:-} ]]; then
        report "$name" "linked in two versions (${versions[$name]# }) and not in ALLOWED. Align the dependencies, or add it to ALLOWED in scripts/check-duplicates.sh with the reason"
    else
        for m in $majors; do
            if ! in_list "$m" ${ALLOWED[$name]}; then
                report "$name" "major version $m is not among the allowed ones (${ALLOWED[$name]}); found ${versions[$name]# }"
                break
            fi
        done
    fi
done

present=()
for name in "${CRYPTO[@]}"; do
    [[ -n ${versions[$name]:-} ]] && present+=("$name")
done
if ((${#present[@]} > 1)); then
    printf 'FAIL  two crypto libraries are linked: %s. Use the one the SDK default HTTPS client uses (aws-lc-rs)\n' "${present[*]}"
    failed=1
fi

stale=()
for name in "${!ALLOWED[@]}"; do
    read -ra vs <<<"${versions[$name]:-}"
    ((${#vs[@]} > 1)) || stale+=("$name")
done
((${#stale[@]} == 0)) || printf 'note  ALLOWED lists crates that are no longer duplicated (remove them): %s\n' "${stale[*]}"

if ((failed)); then
    exit 1
fi
printf 'ok    %d crates (name and version) in the normal dependency graph; duplicates only where allowed (%s)\n' \
    "$crates" "$(printf '%s\n' "${!ALLOWED[@]}" | sort | tr '\n' ' ' | sed 's/ $//')"
