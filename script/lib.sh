# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this
# Shared by script/bootstrap, script/server and script/test (sourced, not run): where things
# live, and how root hands the work over to an unprivileged user.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# nixpkgs packages 1.110.0 at the flake.lock pin, but the Go module proxy reachable from CI serves
# nothing newer than 1.87.0; process-compose.yaml uses only keys both versions have.
PROCESS_COMPOSE_VERSION=1.87.0
# kustomize for the render test of deploy/kubernetes (its go.mod asks for Go 1.22.7).
KUSTOMIZE_VERSION=5.7.1

die() {
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit 1
}
say() { printf '== %s\n' "$*"; }

# `script/x --help` (or -h): the script's header comment, its usage, and nothing installed or run.
help_and_exit_if_asked() {
  case "${1:-}" in
    -h | --help)
      sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
      exit 0
      ;;
  esac
}

venv=${FNS_VENV:-$repo/.venv}
# --nixpkgs-versions (script/bootstrap, script/test): a second env with every dependency at the
# version nixpkgs ships (tests/nix/nixpkgs-versions.txt), as the Nix build has them.
pinned_venv=$repo/.venv-nixpkgs
pinned_constraints=$repo/tests/nix/nixpkgs-versions.txt
constraints=
tools=$repo/.tools
# ... and PostgreSQL at nixpkgs' version (script/bootstrap fetches it), which the Nix build's
# check phase and the NixOS module run against; Debian 12 has 15. nixpkgs' postgresql at the
# flake.lock pin (the nixos-26.05 of 2026-06-25) is postgresql_17, at the minor release of May
# 2026.
NIXPKGS_POSTGRESQL=17.9
pinned_postgres=$tools/postgresql-nixpkgs
pinned_postgres_ready() {
  [ "$("$pinned_postgres/bin/postgres" --version 2>/dev/null || true)" = "postgres (PostgreSQL) $NIXPKGS_POSTGRESQL" ]
}
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root. Root installs system packages and process-compose, then
  # hands over to an unprivileged user working on a copy of the checkout that it owns (a
  # checkout under /root is not even readable by it). One copy per checkout, at a fixed path,
  # so its .venv, .tools and .data survive from one run to the next.
  as_root=1
  run_user=${FNS_USER:-fns}
  state=${FNS_STATE_DIR:-/var/tmp/flask-nix-stack.$(printf %s "$repo" | cksum | cut -d' ' -f1)}
  copy=$state/src
  bin_dir=/usr/local/bin
else
  as_root=0
  bin_dir=$HOME/.local/bin
fi

# Debian keeps initdb, postgres and pg_isready off PATH, in /usr/lib/postgresql/<major>/bin.
pg_bin() {
  local dirs=(/usr/lib/postgresql/*/bin)
  printf '%s\n' "${dirs[@]}" | sort -V | tail -n1
}

# The tools this project installs, first on PATH; in the nixpkgs-versions env, nixpkgs'
# PostgreSQL before Debian's.
tool_path() {
  local pg=
  [ "$venv" != "$pinned_venv" ] || ! pinned_postgres_ready || pg=$pinned_postgres/bin:
  printf '%s:%s:%s:%s%s:%s' "$venv/bin" "$tools/node_modules/.bin" "$bin_dir" "$pg" "$(pg_bin)" "$PATH"
}

# Variables the unprivileged user keeps: the app's and the stack's own, CI's, and the network's
# (proxies and extra CA certificates: npm, pip and Go download through them).
KEPT_VARIABLES='^(APP_|STACK_|PC_|CI$|PYTHONHASHSEED$|GITHUB_ACTIONS$|NIX_PATH$|TERM$|(HTTPS?|NO|ALL)_PROXY$|(https?|no|all)_proxy$|SSL_CERT_(FILE|DIR)$|NODE_EXTRA_CA_CERTS$|REQUESTS_CA_BUNDLE$|PIP_CERT$|CURL_CA_BUNDLE$|GIT_SSL_CAINFO$|NIX_SSL_CERT_FILE$)'

# The unprivileged user's PATH as hand_over starts it (root's, pyenv's shims and all, is not).
user_path=/usr/local/bin:/usr/bin:/bin

# As root: run the same script in the copy as the unprivileged user, with a clean environment
# that keeps only KEPT_VARIABLES.
hand_over() {
  local keep=() name home
  while IFS= read -r name; do
    keep+=("$name=${!name}")
  done < <(compgen -e | grep -E "$KEPT_VARIABLES" || true)
  home=$(getent passwd "$run_user" | cut -d: -f6)
  share_nixpkgs_lib
  [ -z "${NIX_PATH:-}" ] || keep+=("NIX_PATH=$NIX_PATH")
  cd "$copy" || exit
  # FNS_SYSTEM_READY: root has just checked the packages and process-compose; do not again.
  exec runuser -u "$run_user" -- env -i HOME="$home" USER="$run_user" LANG=C.UTF-8 \
    PATH="$user_path" FNS_SYSTEM_READY=1 "${keep[@]}" "$@"
}

# nixpkgs' lib for the Nix evaluation tests, as a NIX_PATH: NIX_PATH's own, else beside the
# checkout (../shared/nixpkgs-lib, as CI has it), /opt/nixpkgs-lib, or the clone in .tools.
nixpkgs_lib_path() {
  local lib
  if [[ "${NIX_PATH:-}" == *nixpkgs=* ]]; then
    printf '%s' "$NIX_PATH"
    return 0
  fi
  for lib in "$repo/../shared/nixpkgs-lib" /opt/nixpkgs-lib "$tools/nixpkgs-lib"; do
    if [ -r "$lib/lib/default.nix" ]; then
      printf 'nixpkgs=%s' "$(cd "$lib" && pwd)"
      return 0
    fi
  done
  return 1
}

# As root: pass nixpkgs' lib on to the unprivileged user, copied where it can read it if needed.
share_nixpkgs_lib() {
  local entry dir
  entry=$(nixpkgs_lib_path) || return 0
  dir=${entry#*nixpkgs=}
  dir=${dir%%:*}
  if ! runuser -u "$run_user" -- test -r "$dir/lib/default.nix"; then
    rm -rf "$state/nixpkgs-lib"
    cp -a "$dir" "$state/nixpkgs-lib"
    chmod -R a+rX "$state/nixpkgs-lib"
    dir=$state/nixpkgs-lib
  fi
  export NIX_PATH=nixpkgs=$dir
}
