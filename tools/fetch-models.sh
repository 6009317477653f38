#!/bin/sh
# Downloads the Kokoro-82M v1.0 files kt uses (kokoro-v1_0.pth, config.json, voices/*.pt) from the
# model's repository with curl (or wget), resuming partial downloads, and checks each file's size
# and sha256 against tools/kokoro-v1_0.manifest. A file is only ever visible under its final name
# once complete and checked; downloads in progress are NAME.part.
set -u

me=fetch-models
usage() {
    cat <<'USAGE'
usage: tools/fetch-models.sh [--dir DIR] [--voices NAMES|all|none] [--base-url URL]
                             [--manifest FILE] [--strict]

Download kokoro-v1_0.pth, config.json and the voice packs (voices/NAME.pt) into DIR,
resuming where an earlier run stopped, and check each file's size and sha256.

  --dir DIR        where the files go (default: $KT_MODELS_DIR, else ./models)
  --voices NAMES   comma-separated voice names (af_heart,am_adam), 'all' (default:
                   $KT_MODELS_VOICES, else all 54) or 'none'
  --base-url URL   the repository's download URL (default: $KT_MODELS_URL, else
                   https://huggingface.co/hexgrad/Kokoro-82M/resolve/main)
  --manifest FILE  PATH SIZE SHA256 lines to download and check (default:
                   $KT_MODELS_MANIFEST, else tools/kokoro-v1_0.manifest); '-' = not recorded
  --strict         refuse a file whose checksum the manifest does not record
  -h, --help       this help

Uses curl, else wget ($KT_FETCH_TOOL=curl|wget picks one; as root the script installs curl
with apt when neither is there). Progress goes to stderr.

examples:
  tools/fetch-models.sh                       # everything into ./models
  tools/fetch-models.sh --voices af_heart,bf_emma --dir /srv/kokoro
  make models

exit status: 0 every file is there and matches, 1 a download failed or a file does not
match (it is removed), 2 bad command line.
USAGE
}

die() { echo "$me: $*" >&2; exit 1; }
usage_error() { echo "$me: $* (see --help)" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
dir=${KT_MODELS_DIR:-models}
voices=${KT_MODELS_VOICES:-all}
base=${KT_MODELS_URL:-https://huggingface.co/hexgrad/Kokoro-82M/resolve/main}
manifest=${KT_MODELS_MANIFEST:-$here/kokoro-v1_0.manifest}
strict=0
while [ $# -gt 0 ]; do
    case $1 in
    -h|--help) usage; exit 0 ;;
    --dir|--voices|--base-url|--manifest)
        [ $# -ge 2 ] || usage_error "$1 needs a value"
        case $1 in
        --dir) dir=$2 ;; --voices) voices=$2 ;; --base-url) base=$2 ;; --manifest) manifest=$2 ;;
        esac
        shift ;;
    --strict) strict=1 ;;
    --) shift; break ;;
    *) usage_error "unknown argument $1" ;;
    esac
    shift
done
[ $# -eq 0 ] || usage_error "unexpected argument $1"
[ -r "$manifest" ] || usage_error "$manifest: cannot read the manifest"
base=${base%/}

# The download tool: curl, else wget; install curl when neither is there.
tool=${KT_FETCH_TOOL:-}
if [ -z "$tool" ]; then
    if command -v curl >/dev/null 2>&1; then tool=curl
    elif command -v wget >/dev/null 2>&1; then tool=wget
    else
        sh "$here/install-deps.sh" curl ca-certificates || die "need curl or wget"
        tool=curl
    fi
fi
case $tool in curl|wget) ;; *) usage_error "KT_FETCH_TOOL must be curl or wget, not $tool" ;; esac
command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is not installed (Debian package coreutils)"

# 1 if the manifest path $1 is wanted with --voices.
wanted() {
    case $1 in
    voices/*) ;;
    *) return 0 ;;
    esac
    [ "$voices" = all ] && return 0
    [ "$voices" = none ] && return 1
    name=${1#voices/}
    name=${name%.pt}
    case ",$voices," in *",$name,"*) return 0 ;; esac
    return 1
}

size_of() { wc -c < "$1" | tr -d ' '; }
sha_of() { sha256sum < "$1" | cut -d' ' -f1; }

# Downloads URL $1 into $2, continuing an existing $2. Returns the tool's status.
fetch() {
    if [ "$tool" = curl ]; then
        if [ -t 2 ]; then progress=--progress-bar; else progress=-sS; fi
        if [ -s "$2" ]; then
            curl -fL $progress --retry 2 --connect-timeout 30 -C - -o "$2" "$1"
            rc=$?
            [ "$rc" = 33 ] || return "$rc" # 33: the server cannot resume; start again
            echo "$me: $1: the server does not resume downloads, starting again" >&2
            rm -f "$2"
            curl -fL $progress --retry 2 --connect-timeout 30 -o "$2" "$1"
        else
            curl -fL $progress --retry 2 --connect-timeout 30 -o "$2" "$1"
        fi
    else
        if [ -t 2 ]; then progress=--progress=bar:force; else progress=-nv; fi
        wget $progress --tries=3 --timeout=30 -c -O "$2" "$1"
    fi
}

# Fetches one manifest entry: path $1, size $2, sha256 $3 ('-' = not recorded).
get() {
    path=$1 want_size=$2 want_sha=$3
    final=$dir/$path
    part=$final.part
    if [ -f "$final" ]; then
        if [ "$want_sha" = - ] || [ "$(sha_of "$final")" = "$want_sha" ]; then
            echo "$me: $path: already there" >&2
            return 0
        fi
        echo "$me: $path: differs from the manifest, downloading it again" >&2
    fi
    mkdir -p "$(dirname "$final")" || die "$final: cannot create the folder"
    if [ "$want_size" != - ] && [ -f "$part" ] && [ "$(size_of "$part")" -gt "$want_size" ]; then
        rm -f "$part" # longer than the file: not a prefix of it
    fi
    [ -f "$part" ] && echo "$me: $path: resuming after $(size_of "$part") bytes" >&2
    echo "$me: $path: downloading $base/$path" >&2
    attempt=1
    while :; do
        fetch "$base/$path" "$part" < /dev/null && break
        if [ "$attempt" -ge 3 ]; then
            die "$path: download failed after $attempt attempts (a rerun resumes from $part)"
        fi
        attempt=$((attempt + 1))
        echo "$me: $path: interrupted, resuming (attempt $attempt of 3)" >&2
        sleep 1
    done
    got_size=$(size_of "$part")
    got_sha=$(sha_of "$part")
    if [ "$want_size" != - ] && [ "$got_size" != "$want_size" ]; then
        rm -f "$part"
        die "$path: size mismatch: got $got_size bytes, want $want_size (removed; run again to retry)"
    fi
    if [ "$want_sha" != - ] && [ "$got_sha" != "$want_sha" ]; then
        rm -f "$part"
        die "$path: sha256 mismatch: got $got_sha, want $want_sha (removed; run again to retry)"
    fi
    if [ "$want_sha" = - ] && [ "$strict" = 1 ]; then
        rm -f "$part"
        die "$path: no sha256 recorded in $manifest, and --strict refuses it (got $got_sha)"
    fi
    mv -f "$part" "$final" || die "$final: cannot rename $part"
    if [ "$want_sha" = - ]; then
        echo "$me: $path: done ($got_size bytes), NOT verified: no sha256 recorded; got $got_sha" >&2
    else
        echo "$me: $path: ok ($got_size bytes, sha256 verified)" >&2
    fi
}

if [ "$voices" != all ] && [ "$voices" != none ]; then
    for v in $(echo "$voices" | tr ',' ' '); do
        grep -q "^voices/$v\.pt " "$manifest" || usage_error "--voices: no voice $v in $manifest"
    done
fi
n=0
while read -r path size sha rest; do
    case $path in ''|'#'*) continue ;; esac
    [ -n "$sha" ] && [ -z "$rest" ] || die "$manifest: bad line: $path $size $sha $rest"
    wanted "$path" || continue
    get "$path" "$size" "$sha"
    n=$((n + 1))
done < "$manifest"
[ "$n" -gt 0 ] || die "nothing to download (--voices $voices matches no voice in $manifest)"
echo "$me: $n files in $dir" >&2
