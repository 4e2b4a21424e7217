package fleet

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"samverk.io/samverk/engine/catalog"
	"samverk.io/samverk/engine/compile"
	"samverk.io/samverk/engine/desired"
	"samverk.io/samverk/engine/rollout"
	"samverk.io/samverk/engine/servedlog"
)

// The index is the daemon's memory of every device: what it needs to answer a poll without the
// database. Devices with the same compile inputs (member, labels, hardware, OS) share a class;
// a class points at the encoded state its devices are served, swapped on each publish. A poll
// is then a shard lookup, a hash comparison and a header comparison.

const shardCount = 64

type index struct {
	shards [shardCount]shard

	// maxClasses bounds len(classes); 0 for no bound.
	maxClasses int

	mu       sync.Mutex // guards what follows
	classes  map[string]*class
	compiler *compile.Compiler // the newest revision's: it decides each class's ring
	members  map[string]bool   // Member documents of the catalog served
	revision string            // the newest revision published
	// encoded caches the encodings of compiler's States.
	encoded *encodings
	// revs holds the compiled states of every revision still served: the newest, and each
	// ring's current and previous one (at most one per ring, plus those being left).
	revs map[string]*revServe
	// rings says which revision each ring is served; a ring not in it gets the newest.
	rings map[string]RingRevision
	// windows are the device groups' maintenance windows, by "member/group".
	windows map[string]rollout.Windows
	// budgets limit, per ring, the devices that start a new revision in one hour.
	budgets map[string]*budget
	// overlays are the distinct overlays devices have (SetOverlays), by key.
	overlays map[string]*devOverlay
	// suspended are the suspended members ("member") and device groups ("member/group"):
	// their devices keep the state they have.
	suspended map[string]bool
}

// revServe is one revision's compiler and the encodings of its States.
type revServe struct {
	comp *compile.Compiler
	enc  *encodings
}

// RingRevision is what one ring is served (see rollout.RingRevision).
type RingRevision = rollout.RingRevision

type shard struct {
	mu sync.Mutex
	m  map[devKey]entry
	// prev holds the previous credential of the devices rotating theirs: it is accepted until
	// until, or until the new one is first used. Nil while none rotates.
	prev map[devKey]prevCred
	// over holds the overlay of each device of the shard that has one, whether or not the
	// device is in memory yet; each such entry in m points at it too. Nil while none has.
	over map[devKey]*devOverlay
	_    [64 - 32]byte // keep shards on their own cache lines
}

type prevCred struct {
	hash  [sha256.Size]byte
	until int64 // Unix nanoseconds
}

// revokedCred is the credential hash of a revoked device; no secret hashes to it.
var revokedCred [sha256.Size]byte

// entry is one device: 64 bytes.
type entry struct {
	cred  [sha256.Size]byte
	cls   *class
	tat   int64  // rate limit: theoretical arrival time (GCRA), in Unix nanoseconds
	facts uint64 // digest of the facts last stored, to skip rewriting unchanged ones
	// ov is the device's overlay (the shard's over[k]), nil for none: the poll of a device
	// without one reads nothing more.
	ov *devOverlay
}

// devOverlay is one overlay, shared by every device that has it.
type devOverlay struct {
	key string // compile.Overlay.Key
	o   compile.Overlay
}

// class is the set of devices sharing compile inputs.
type class struct {
	key string
	dev compile.Device
	cur atomic.Pointer[view] // nil until a revision is published
	n   atomic.Int64         // devices in the class; taken under index.mu
	// ring is the class's ring, and unchanged says that its ring's revision leaves its state
	// as the ring's previous revision had it; both under index.mu.
	ring      string
	unchanged bool
	// over holds what the class's devices with an overlay are served, per overlay; nil when
	// none of them has one. It is replaced whole, under index.mu.
	over atomic.Pointer[map[*devOverlay]*view]
}

// view is what a class's devices are served: a State and the profile that led to it.
type view struct {
	*served
	profile string
	// rec is what a 200 of this view records as served.
	rec *servedlog.What
	// prev, when not nil, is what a device keeps while hold does not let it take this view:
	// the state of its ring's previous revision, when that differs.
	prev *view
	hold *hold
	// frozen says that the class's member or group is suspended: a device that has a state
	// keeps it (304 to any If-None-Match), one without is served prev, or else this view.
	frozen bool
}

// hold decides whether a device may take its ring's new revision now.
type hold struct {
	windows rollout.Windows
	budget  *budget // nil: no hourly bound
	// member says that the member's own rollout policy holds its devices on the previous
	// revision: no window or budget lets them take the new one.
	member bool
}

// allows reports whether a device may start the new state at now, and charges the budget.
func (h *hold) allows(now time.Time) bool {
	if h.member || !h.windows.Open(now) {
		return false
	}
	return h.budget == nil || h.budget.take(now)
}

// budget counts the devices that started a ring's new revision in the current hour.
type budget struct {
	max  int64
	mu   sync.Mutex
	hour int64
	n    int64
}

func (b *budget) take(now time.Time) bool {
	h := now.Unix() / 3600
	b.mu.Lock()
	defer b.mu.Unlock()
	if h != b.hour {
		b.hour, b.n = h, 0
	}
	if b.n >= b.max {
		return false
	}
	b.n++
	return true
}

// served is one State ready to send, shared by every profile it is the outcome of.
type served struct {
	state *desired.State
	hash  string
	etag  []string // the ETag header value, `"<hash>"`, shared by every response
	body  []byte
	clen  []string   // the Content-Length header value of body
	gz    compressed // body gzipped, made on first use (see gzipped)
}

// encodings caches, for one compiler, each State's encoding and each profile's view.
type encodings struct {
	states map[*desired.State]*served
	views  map[string]*view // by profile key
}

func newEncodings() *encodings {
	return &encodings{states: map[*desired.State]*served{}, views: map[string]*view{}}
}

func newIndex(maxClasses int) *index {
	ix := &index{classes: map[string]*class{}, maxClasses: maxClasses}
	for i := range ix.shards {
		ix.shards[i].m = map[devKey]entry{}
	}
	return ix
}

func (ix *index) shard(k devKey) *shard { return &ix.shards[k[0]%shardCount] }

// len counts the devices.
func (ix *index) len() int {
	n := 0
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// put adds or replaces a device. Unless force (a device already in the store), it refuses,
// returning false, when the device would need a new class and the index holds maxClasses.
func (ix *index) put(k devKey, cred [sha256.Size]byte, member string, f *desired.Facts, sum uint64, force bool) bool {
	cls := ix.classFor(member, f, force)
	if cls == nil {
		return false
	}
	ix.place(k, cred, cls, sum)
	return true
}

// place adds or replaces device k in class cls, which classFor has counted it in.
func (ix *index) place(k devKey, cred [sha256.Size]byte, cls *class, sum uint64) {
	s := ix.shard(k)
	s.mu.Lock()
	old, had := s.m[k]
	s.m[k] = entry{cred: cred, cls: cls, tat: old.tat, facts: sum, ov: s.over[k]}
	delete(s.prev, k)
	s.mu.Unlock()
	if had {
		ix.release(old.cls)
	}
}

// release takes a device out of the count of c, and forgets c when it is empty: classes come
// and go with the facts devices report, and an empty one must not stay in memory.
func (ix *index) release(c *class) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if c.n.Add(-1) <= 0 && ix.classes[c.key] == c {
		delete(ix.classes, c.key)
	}
}

// classCount is the number of classes held.
func (ix *index) classCount() int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return len(ix.classes)
}

type authResult int

const (
	authOK authResult = iota
	authUnknown
	authBadSecret
	authLimited
	authRevoked
)

// limit is the per-device rate: one request per interval, bursts of burst.
type limit struct {
	interval int64 // nanoseconds; 0 disables
	burst    int64
}

// auth checks a device's secret and charges its rate limit, under one lock. On authLimited,
// wait says how long until a request would pass. firstNew says that this is the first use of
// a rotated credential, which ended the previous one's grace.
func (ix *index) auth(k devKey, hash *[sha256.Size]byte, now int64, l limit) (e entry, wait time.Duration, res authResult, firstNew bool) {
	s := ix.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	switch {
	case !ok:
		return entry{}, 0, authUnknown, false
	case e.cred == revokedCred:
		return entry{}, 0, authRevoked, false
	case subtle.ConstantTimeCompare(hash[:], e.cred[:]) == 1:
		if _, rotating := s.prev[k]; rotating {
			delete(s.prev, k)
			firstNew = true
		}
	default:
		p, rotating := s.prev[k]
		if !rotating || now >= p.until || subtle.ConstantTimeCompare(hash[:], p.hash[:]) != 1 {
			return entry{}, 0, authBadSecret, false
		}
	}
	if l.interval > 0 {
		tat := max(e.tat, now)
		if over := tat - now - (l.burst-1)*l.interval; over > 0 {
			return e, time.Duration(over), authLimited, firstNew
		}
		e.tat = tat + l.interval
		s.m[k] = e
	}
	return e, 0, authOK, firstNew
}

// setCredential replaces device k's credential: prev, when until is after now, is still
// accepted until then. It reports whether k is in memory.
func (ix *index) setCredential(k devKey, cred [sha256.Size]byte, prev *[sha256.Size]byte, until int64) bool {
	s := ix.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok {
		return false
	}
	e.cred = cred
	s.m[k] = e
	delete(s.prev, k)
	if prev != nil {
		if s.prev == nil {
			s.prev = map[devKey]prevCred{}
		}
		s.prev[k] = prevCred{hash: *prev, until: until}
	}
	return true
}

// credential returns device k's current credential hash.
func (ix *index) credential(k devKey) (cred [sha256.Size]byte, ok bool) {
	s := ix.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	return e.cred, ok
}

// lookup returns a device's class, or nil.
func (ix *index) lookup(k devKey) *class {
	c, _ := ix.lookupOverlay(k)
	return c
}

// lookupOverlay returns a device's class and overlay, or nil.
func (ix *index) lookupOverlay(k devKey) (*class, *devOverlay) {
	s := ix.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[k]; ok {
		return e.cls, e.ov
	}
	return nil, nil
}

// refacts records that a device's facts changed to f (sum): it moves to the class of its new
// compile inputs, if they changed. When that class would be new and the index is full, the
// device stays where it is, and its digest unchanged so that its next report tries again; it
// reports false then.
func (ix *index) refacts(k devKey, member string, f *desired.Facts, sum uint64) bool {
	s := ix.shard(k)
	s.mu.Lock()
	e, ok := s.m[k]
	s.mu.Unlock()
	if !ok || e.facts == sum {
		return true
	}
	var cls *class
	if classKey(member, f) != e.cls.key {
		if cls = ix.classFor(member, f, false); cls == nil {
			return false
		}
	}
	s.mu.Lock()
	e, ok = s.m[k]
	var old *class
	if ok {
		e.facts = sum
		if cls != nil {
			old, e.cls = e.cls, cls
		}
		s.m[k] = e
	}
	s.mu.Unlock()
	switch {
	case old != nil:
		ix.release(old)
	case cls != nil:
		ix.release(cls) // not used after all
	}
	return true
}

// classFor returns the class of a device of member with facts f, creating it (and compiling
// its state, once something is published) when it is new, and counts the device in it. It
// returns nil when the class is new, the index holds maxClasses and not force.
func (ix *index) classFor(member string, f *desired.Facts, force bool) *class {
	key := classKey(member, f)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	c := ix.classes[key]
	if c == nil {
		if !force && ix.maxClasses > 0 && len(ix.classes) >= ix.maxClasses {
			return nil
		}
		// The one conversion of facts to compile inputs, which history's recompilation shares;
		// the labels are copied, since the class outlives the report that brought them.
		dev := compile.FromFacts(member, *f)
		dev.Labels = maps.Clone(dev.Labels)
		c = &class{key: key, dev: dev}
		if ix.compiler != nil {
			c.cur.Store(ix.viewOf(c, nil))
		}
		ix.classes[key] = c
	}
	c.n.Add(1)
	return c
}

// serve compiles c's state with comp, with overlay o on top (nil for none), reusing the
// encodings in enc. Called with mu held.
func (ix *index) serve(comp *compile.Compiler, enc *encodings, c *class, o *devOverlay) *view {
	var st *desired.State
	var p compile.Profile
	if o == nil {
		st, p = comp.Desired(c.dev)
	} else {
		st, p = comp.DesiredWith(c.dev, o.o)
	}
	key := p.Key()
	vkey := key
	if o != nil {
		vkey = key + "\x00" + o.key
	}
	if v := enc.views[vkey]; v != nil && v.state == st {
		return v
	}
	sv := enc.states[st]
	if sv == nil {
		// What json.Marshal(st) writes, from the encodings the compilation keeps.
		body := comp.Encode(st)
		sv = &served{state: st, hash: st.Hash, etag: []string{strconv.Quote(st.Hash)}, body: body,
			clen: []string{strconv.Itoa(len(body))}}
		enc.states[st] = sv
	}
	v := &view{served: sv, profile: key,
		rec: &servedlog.What{Profile: key, Hash: st.Hash, Revision: st.Revision, Group: st.Group, Ring: st.Ring}}
	if st.OS != nil && st.OS.Action == compile.ActionUpgrade {
		v.rec.OSTarget = st.OS.Release
	}
	enc.views[vkey] = v
	return v
}

// publish compiles every class against cat at revision, the newest, and only then swaps
// them all in: rings keep the revisions Serve gave them, and a ring without one gets revision.
// It returns the number of classes and of distinct states.
func (ix *index) publish(cat *catalog.Catalog, revision string, windows map[string]rollout.Windows) (comp *compile.Compiler, classes, states int) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.compiler == nil {
		comp = compile.New(cat, revision)
	} else {
		comp = ix.compiler.Next(cat, revision)
	}
	enc := newEncodings()
	if ix.revs == nil {
		ix.revs = map[string]*revServe{}
	}
	ix.revs[revision] = &revServe{comp: comp, enc: enc}
	ix.compiler, ix.encoded, ix.revision = comp, enc, revision
	ix.windows = windows
	ix.members = map[string]bool{}
	for _, d := range cat.OfKind(catalog.KindMember) {
		ix.members[d.Name] = true
	}
	classes = ix.reviewAll()
	return comp, classes, len(enc.states)
}

// serveRings sets the revision of each ring in rings (the others keep theirs), forgets the
// revisions no longer served and gives every class its new view. A ring naming a revision
// not published is an error, and nothing changes.
func (ix *index) serveRings(rings map[string]RingRevision) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for ring, rr := range rings {
		if ix.revs[rr.Revision] == nil {
			return fmt.Errorf("ring %s: revision %s is not published", ring, rr.Revision)
		}
	}
	if ix.rings == nil {
		ix.rings = map[string]RingRevision{}
		ix.budgets = map[string]*budget{}
	}
	for ring, rr := range rings {
		if ix.revs[rr.Previous] == nil {
			rr.Previous = ""
		}
		ix.rings[ring] = rr
		if rr.MaxPerHour > 0 && rr.Previous != "" {
			ix.budgets[ring] = &budget{max: int64(rr.MaxPerHour)}
		} else {
			delete(ix.budgets, ring)
		}
	}
	keep := map[string]bool{ix.revision: true}
	for _, rr := range ix.rings {
		keep[rr.Revision], keep[rr.Previous] = true, true
	}
	for rev := range ix.revs {
		if !keep[rev] {
			delete(ix.revs, rev)
		}
	}
	ix.reviewAll()
	return nil
}

// reviewAll computes every class's view, and the views of its devices with overlays, and only
// then swaps them all in. Called with mu held.
func (ix *index) reviewAll() int {
	type swap struct {
		c    *class
		v    *view
		over map[*devOverlay]*view
	}
	pairs := ix.overlaid()
	swaps := make([]swap, 0, len(ix.classes))
	for key, c := range ix.classes {
		if c.n.Load() <= 0 {
			delete(ix.classes, key) // no device left in it
			continue
		}
		swaps = append(swaps, swap{c, ix.viewOf(c, nil), ix.overlaidViews(c, pairs[c])})
	}
	for _, s := range swaps {
		s.c.cur.Store(s.v)
		storeOverlaid(s.c, s.over)
	}
	return len(swaps)
}

// reviewOverlays computes the views of every device with an overlay and swaps them in; the
// classes' own views stay. Called with mu held.
func (ix *index) reviewOverlays() {
	if ix.revs == nil {
		return // nothing published: the first publish computes them
	}
	pairs := ix.overlaid()
	over := make(map[*class]map[*devOverlay]*view, len(pairs))
	for c, os := range pairs {
		over[c] = ix.overlaidViews(c, os)
	}
	for _, c := range ix.classes {
		storeOverlaid(c, over[c])
	}
}

// overlaid lists, per class, the overlays its devices in memory have. Called with mu held.
func (ix *index) overlaid() map[*class]map[*devOverlay]struct{} {
	if len(ix.overlays) == 0 {
		return nil
	}
	pairs := map[*class]map[*devOverlay]struct{}{}
	for i := range ix.shards {
		s := &ix.shards[i]
		s.mu.Lock()
		for k, o := range s.over {
			e, ok := s.m[k]
			if !ok {
				continue
			}
			os := pairs[e.cls]
			if os == nil {
				os = map[*devOverlay]struct{}{}
				pairs[e.cls] = os
			}
			os[o] = struct{}{}
		}
		s.mu.Unlock()
	}
	return pairs
}

// overlaidViews computes the view of class c with each overlay of os. Called with mu held.
func (ix *index) overlaidViews(c *class, os map[*devOverlay]struct{}) map[*devOverlay]*view {
	if len(os) == 0 {
		return nil
	}
	m := make(map[*devOverlay]*view, len(os))
	for o := range os {
		m[o] = ix.viewOf(c, o)
	}
	return m
}

func storeOverlaid(c *class, m map[*devOverlay]*view) {
	if m == nil {
		if c.over.Load() != nil {
			c.over.Store(nil)
		}
		return
	}
	c.over.Store(&m)
}

// viewWith is what a device of class c with overlay o (nil for none) is served now, or nil
// before the first publish. A device with an overlay its class has no view for yet (it has
// just moved to the class) gets one made.
func (ix *index) viewWith(c *class, o *devOverlay) *view {
	if o == nil {
		return c.cur.Load()
	}
	if m := c.over.Load(); m != nil {
		if v := (*m)[o]; v != nil {
			return v
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.revs == nil {
		return nil
	}
	old := c.over.Load()
	if old != nil {
		if v := (*old)[o]; v != nil {
			return v
		}
	}
	m := make(map[*devOverlay]*view, 1)
	if old != nil {
		m = maps.Clone(*old)
	}
	v := ix.viewOf(c, o)
	m[o] = v
	c.over.Store(&m)
	return v
}

// viewOf is what class c is served, with overlay o on top (nil for none): the newest
// revision decides its ring (by its group); the ring's revision its state; a suspension of its
// member or group freezes it. Called with mu held.
func (ix *index) viewOf(c *class, o *devOverlay) *view {
	newest := ix.revs[ix.revision]
	p := newest.comp.ProfileOf(c.dev)
	if o == nil {
		c.ring, c.unchanged = p.Ring, false
	}
	v := ix.ringView(c, o, p.Member, p.Group, p.Ring)
	if ix.suspended[p.Member] || ix.suspended[p.Member+"/"+p.Group] {
		fv := &view{served: v.served, profile: v.profile, rec: v.rec, frozen: true}
		if prev := ix.revs[ix.rings[p.Ring].Previous]; prev != nil {
			fv.prev = ix.serve(prev.comp, prev.enc, c, o)
		}
		return fv
	}
	return v
}

// ringView is what class c, of member's group in ring, is served by its ring's revision, with
// overlay o on top. Called with mu held.
func (ix *index) ringView(c *class, o *devOverlay, member, group, ring string) *view {
	newest := ix.revs[ix.revision]
	rr, ok := ix.rings[ring]
	cur := ix.revs[rr.Revision]
	if !ok || cur == nil {
		return ix.serve(newest.comp, newest.enc, c, o)
	}
	v := ix.serve(cur.comp, cur.enc, c, o)
	prev := ix.revs[rr.Previous]
	if prev == nil {
		return v
	}
	pv := ix.serve(prev.comp, prev.enc, c, o)
	if pv.hash == v.hash {
		if o == nil {
			c.unchanged = true
		}
		return v // the new revision does not change this class's state: nothing to hold
	}
	h := &hold{windows: ix.windows[member+"/"+group], budget: ix.budgets[ring], member: rr.Held[member]}
	if len(h.windows) == 0 && h.budget == nil && !h.member {
		return v
	}
	return &view{served: v.served, profile: v.profile, rec: v.rec, prev: pv, hold: h}
}

// suspend sets the suspended members and groups (see index.suspended) and gives every class
// its new view.
// It reports whether the set changed.
func (ix *index) suspend(scopes map[string]bool) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if maps.Equal(ix.suspended, scopes) {
		return false
	}
	ix.suspended = scopes
	if ix.compiler != nil {
		ix.reviewAll()
	}
	return true
}

// unchanged counts the devices of ring whose state its revision leaves as its previous
// revision had it.
func (ix *index) unchangedIn(ring string) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for _, c := range ix.classes {
		if c.ring == ring && c.unchanged {
			n += int(c.n.Load())
		}
	}
	return n
}

// published reports whether a revision has been published, and whether member is in it.
func (ix *index) published(member string) (revision string, known bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.revision, ix.members[member]
}

// memberSet returns the members of the catalog served.
func (ix *index) memberSet() map[string]bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.members
}

// classKey is the identity of a class: member and the facts compilation reads.
func classKey(member string, f *desired.Facts) string {
	b := make([]byte, 0, 128)
	add := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	add(member)
	add(f.Vendor)
	add(f.Model)
	add(f.OSFamily)
	add(f.OSBuild)
	for _, k := range slices.Sorted(maps.Keys(f.Labels)) {
		add(k)
		add(f.Labels[k])
	}
	return string(b)
}
