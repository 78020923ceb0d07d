# shellcheck shell=bash
# Sourced by script/server, and inlined into `nix run`'s script (nix/stack.nix) and the dev
# shell's hook (nix/devshell.nix), before process-compose starts.
#
# process-compose writes two JSON "debug" lines to stderr on every start when no config
# directory of its own exists ("Path not found for process compose config home"), which reads
# like an error on a first run. It looks in $XDG_CONFIG_HOME, then each of $XDG_CONFIG_DIRS,
# whose defaults on macOS (adrg/xdg's) are under Library/. Where none holds one, this points it
# at an empty one in the stack's state directory, so it starts quietly with its defaults; a
# user's own directory, or PROC_COMP_CONFIG set by hand, still wins.
process_compose_config() {
  local state=$1 dir
  local -a dirs
  [ -z "${PROC_COMP_CONFIG:-}" ] || return 0
  IFS=: read -ra dirs <<<"${XDG_CONFIG_HOME:-${HOME:-}/.config}:${XDG_CONFIG_DIRS:-/etc/xdg}"
  dirs+=("${HOME:-}/Library/Application Support" "${HOME:-}/Library/Preferences")
  dirs+=("/Library/Application Support" "/Library/Preferences")
  for dir in "${dirs[@]}"; do
    if [ -n "$dir" ] && [ -d "$dir/process-compose" ]; then
      return 0
    fi
  done
  mkdir -p "$state/process-compose"
  export PROC_COMP_CONFIG="$state/process-compose"
}
