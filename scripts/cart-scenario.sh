# The shopping-cart partition scenario, sourced by partition-test.sh (faults
# from the simulation shim) and netns-test.sh (faults from the kernel).  Not
# run on its own.
#
# The caller defines:
#   cli NODE ARGS...     run one command on node mobile, web or backend
#                        (redis-cli --raw), printing its reply
#   partition_mobile     cut mobile off from web and backend, both ways
#   heal                 end the partition
#
# Nodes mobile, web and backend share:
#   cart          OR-Set (add-wins) of item names
#   cart:total    G-Counter of the value added to the cart, in dollars
#   qty:ITEM      PN-Counter of each item's quantity
#   cart:qty      the same quantities as a user writes them: a hash of
#                 item -> quantity (HINCRBY, HDEL when the item leaves)
#
# The story, and what CRDT semantics predict for it:
#   1. mobile adds laptop ($1000) and mouse ($25); web adds keyboard ($75)
#      and a second laptop ($1000).  After sync every node has
#      cart = {keyboard, laptop, mouse}, total 2100, laptop 2, mouse 1,
#      keyboard 1; cart:qty = {keyboard 1, laptop 2, mouse 1}.
#   2. mobile is partitioned off.  mobile removes the mouse (qty -1) and the
#      keyboard (qty -1); web adds a monitor ($300) and adds the keyboard
#      again (a new add, concurrent with mobile's remove); backend adds a
#      third laptop (qty only).  In cart:qty mobile HDELs mouse and keyboard,
#      web HINCRBYs keyboard and monitor, backend laptop.  During the
#      partition mobile must not see the monitor and web must still see the
#      mouse.
#   3. heal.  Every node must then hold exactly:
#      cart = {keyboard, laptop, monitor}   mouse removed; keyboard's
#                                           concurrent re-add wins
#      cart:total = 2400                    a G-Counter never goes down
#      qty:laptop = 3, qty:mouse = 0, qty:keyboard = 1, qty:monitor = 1
#      cart:qty = {keyboard 1, laptop 3, monitor 1}: mouse deleted; web's
#                 keyboard increment, concurrent with mobile's HDEL, survives
#                 with only what the HDEL did not see (web's +1, not the 1
#                 mobile deleted; docs/types.md, OR-Map)
#   4. mobile is partitioned off again.  mobile empties the hash cart with
#      DEL cart:qty; web, which has not seen that DEL, adds a laptop
#      (HINCRBY cart:qty laptop 1).  During the partition mobile has no
#      cart:qty and web has laptop 4.
#   5. heal.  Every node must then hold cart:qty = {laptop 1} (the other
#      stores are untouched): the DEL removed every field write mobile had
#      seen (keyboard and monitor are gone); web's increment, concurrent
#      with it, survives with only what the DEL did not see (web's +1, not
#      the 3 laptops mobile deleted), as after an HDEL.

CART_NODES="mobile web backend"
cart_fail=0

# wait_for DESC SECONDS CHECK-FUNCTION: poll until CHECK succeeds.
wait_for() {
	local desc=$1 secs=$2 fn=$3 deadline
	deadline=$((SECONDS + secs))
	while [ $SECONDS -lt $deadline ]; do
		if $fn; then
			return 0
		fi
		sleep 0.1
	done
	$fn verbose || true
	echo "FAIL: $desc: not reached within ${secs}s" >&2
	return 1
}

# The gossip rounds NODE has run since it started (INFO gossip).
gossip_rounds() {
	cli "$1" INFO gossip | tr -d '\r' | sed -n 's/^gossip_rounds://p'
}

declare -A rounds0
rounds_done() {
	local n
	for n in $CART_NODES; do
		[ "$(gossip_rounds "$n")" -ge $((rounds0[$n] + ${CART_PARTITION_ROUNDS:-5})) ] ||
			return 1
	done
}

node_state() {
	local n=$1 k
	printf 'cart=%s' "$(cli "$n" SMEMBERS cart | sort | tr '\n' ',' | sed 's/,$//')"
	printf ' total=%s' "$(cli "$n" GET cart:total)"
	for k in laptop mouse keyboard monitor; do
		printf ' %s=%s' "$k" "$(cli "$n" GET "qty:$k")"
	done
	printf ' hash=%s' "$(cli "$n" HGETALL cart:qty | paste -d : - - | sort | tr '\n' ',' | sed 's/,$//')"
	echo
}

# Compare every node with an expected state line; with "verbose", print the
# difference.
check_all() {
	local want=$1 verbose=${2:-} n got ok=0
	for n in $CART_NODES; do
		got=$(node_state "$n")
		if [ "$got" != "$want" ]; then
			ok=1
			[ -n "$verbose" ] && printf '  %-8s has    %s\n  %-8s wanted %s\n' "$n" "$got" "" "$want" >&2
		fi
	done
	return $ok
}

want_synced="cart=keyboard,laptop,mouse total=2100 laptop=2 mouse=1 keyboard=1 monitor= hash=keyboard:1,laptop:2,mouse:1"
want_final="cart=keyboard,laptop,monitor total=2400 laptop=3 mouse=0 keyboard=1 monitor=1 hash=keyboard:1,laptop:3,monitor:1"
check_synced() { check_all "$want_synced" "${1:-}"; }
check_final() { check_all "$want_final" "${1:-}"; }
want_deleted="${want_final% hash=*} hash=laptop:1"
check_deleted() { check_all "$want_deleted" "${1:-}"; }

# the partition holds: mobile has no monitor, web still has the mouse
check_partition_holds() {
	local m w hm hw
	m=$(cli mobile SISMEMBER cart monitor)
	w=$(cli web SISMEMBER cart mouse)
	hm=$(cli mobile HEXISTS cart:qty monitor)
	hw=$(cli web HGET cart:qty mouse)
	if [ "$m" = 0 ] && [ "$w" = 1 ] && [ "$hm" = 0 ] && [ "$hw" = 1 ]; then
		return 0
	fi
	[ -n "${1:-}" ] && echo "  mobile SISMEMBER monitor = $m (want 0), web SISMEMBER mouse = $w (want 1)," \
		"mobile HEXISTS cart:qty monitor = $hm (want 0), web HGET cart:qty mouse = $hw (want 1)" >&2
	return 1
}

# the second partition holds: mobile has no cart:qty, web has laptop 4
check_del_partition_holds() {
	local m w
	m=$(cli mobile EXISTS cart:qty)
	w=$(cli web HGETALL cart:qty | paste -d : - - | sort | tr '\n' ',' | sed 's/,$//')
	if [ "$m" = 0 ] && [ "$w" = "keyboard:1,laptop:4,monitor:1" ]; then
		return 0
	fi
	[ -n "${1:-}" ] && echo "  mobile EXISTS cart:qty = $m (want 0)," \
		"web HGETALL cart:qty = $w (want keyboard:1,laptop:4,monitor:1)" >&2
	return 1
}

# Let every node gossip CART_PARTITION_ROUNDS more rounds (its own count,
# in INFO): not a sleep.  Each side sent its state across the partition
# that many times; the caller then checks that the partition still holds.
partition_rounds() {
	local n
	for n in $CART_NODES; do rounds0[$n]=$(gossip_rounds "$n"); done
	wait_for "${CART_PARTITION_ROUNDS:-5} gossip rounds on every node" "$1" rounds_done
}

# Run the story; returns non-zero (after printing what differed) on failure.
cart_scenario() {
	local wait_s=${1:-30}
	echo "== 1. concurrent adds on mobile and web"
	cli mobile CRDT.CREATE cart:total gcounter >/dev/null
	cli web CRDT.CREATE cart:total gcounter >/dev/null
	cli mobile SADD cart laptop mouse >/dev/null
	cli mobile INCRBY cart:total 1025 >/dev/null
	cli mobile INCRBY qty:laptop 1 >/dev/null
	cli mobile INCRBY qty:mouse 1 >/dev/null
	cli web SADD cart keyboard laptop >/dev/null
	cli web INCRBY cart:total 1075 >/dev/null
	cli web INCRBY qty:keyboard 1 >/dev/null
	cli web INCRBY qty:laptop 1 >/dev/null
	cli mobile HINCRBY cart:qty laptop 1 >/dev/null
	cli mobile HINCRBY cart:qty mouse 1 >/dev/null
	cli web HINCRBY cart:qty keyboard 1 >/dev/null
	cli web HINCRBY cart:qty laptop 1 >/dev/null
	wait_for "sync after the first adds" "$wait_s" check_synced || return 1
	node_state mobile | sed 's/^/   every node: /'

	echo "== 2. mobile partitioned off; writes on both sides"
	partition_mobile
	cli mobile SREM cart mouse >/dev/null
	cli mobile DECRBY qty:mouse 1 >/dev/null
	cli mobile SREM cart keyboard >/dev/null
	cli mobile DECRBY qty:keyboard 1 >/dev/null
	cli web SADD cart monitor >/dev/null
	cli web INCRBY cart:total 300 >/dev/null
	cli web INCRBY qty:monitor 1 >/dev/null
	cli web SADD cart keyboard >/dev/null
	cli web INCRBY qty:keyboard 1 >/dev/null
	cli backend INCRBY qty:laptop 1 >/dev/null
	cli mobile HDEL cart:qty mouse keyboard >/dev/null
	cli web HINCRBY cart:qty keyboard 1 >/dev/null
	cli web HINCRBY cart:qty monitor 1 >/dev/null
	cli backend HINCRBY cart:qty laptop 1 >/dev/null
	partition_rounds "$wait_s" || return 1
	if ! check_partition_holds; then
		check_partition_holds verbose || true
		echo "FAIL: the partition did not hold" >&2
		return 1
	fi
	for n in $CART_NODES; do node_state "$n" | sed "s/^/   $n: /"; done

	echo "== 3. heal"
	heal
	wait_for "convergence after heal" "$wait_s" check_final || return 1
	for n in $CART_NODES; do node_state "$n" | sed "s/^/   $n: /"; done

	echo "== 4. mobile partitioned off again; DEL of the hash cart on mobile, HINCRBY on web"
	partition_mobile
	[ "$(cli mobile DEL cart:qty)" = 1 ] || { echo "FAIL: mobile DEL cart:qty did not delete" >&2; return 1; }
	[ "$(cli web HINCRBY cart:qty laptop 1)" = 4 ] || { echo "FAIL: web HINCRBY laptop is not 4" >&2; return 1; }
	partition_rounds "$wait_s" || return 1
	if ! check_del_partition_holds; then
		check_del_partition_holds verbose || true
		echo "FAIL: the second partition did not hold" >&2
		return 1
	fi

	echo "== 5. heal"
	heal
	wait_for "convergence after the second heal" "$wait_s" check_deleted || return 1
	for n in $CART_NODES; do node_state "$n" | sed "s/^/   $n: /"; done
	echo "PASS: every node holds $want_final, then $want_deleted"
}
