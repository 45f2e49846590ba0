#!/bin/sh
# config.h gives every valued option a value (0/1 or a number), so they are
# always defined: "#ifdef MMK_CFG_DEBUG" would be true in every build.  This
# fails on any #ifdef / #ifndef / defined() of a valued option outside
# config.h, where the defaults are set.
# Usage: tests/config/check-options.sh <mmkit root>
set -eu
root=$1
valued='MMK_CFG_(MAX_CPUS|DEBUG_HOOKS|DEBUG|HAL_LINEAR_MAP|EXPENSIVE_CHECKS|SLAB_DEBUG|SLAB_MAG)'
bad=$(cd "$root" && grep -rnE "^[[:space:]]*#[[:space:]]*(ifdef|ifndef)[[:space:]]+$valued([^A-Z0-9_]|\$)|defined[[:space:]]*\(?[[:space:]]*$valued([^A-Z0-9_]|\$)" \
	include src hosted tests bench demo 2>/dev/null | grep -v '^include/mmkit/config.h:' || true)
if [ -n "$bad" ]; then
	echo "FAIL: valued options tested for being defined (always true; use #if):"
	echo "$bad" | sed 's/^/  /'
	exit 1
fi
echo "check-options: valued MMK_CFG_ options are tested by value everywhere: OK"
