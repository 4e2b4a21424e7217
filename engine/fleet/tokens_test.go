package fleet

import (
	"crypto/sha256"
	"strings"
	"testing"
)

const tok32 = "0123456789abcdef0123456789abcdef"

func TestParseTokens(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		members []string
		err     string
	}{
		{"lines, comments and blanks", "# enrollment tokens\nregion-norr=" + tok32 + "\n\n  kommun-vasterby = x" + tok32 + "  \nregion-norr=y" + tok32 + "\n",
			[]string{"region-norr", "kommun-vasterby"}, ""},
		{"no separator", "region-norr " + tok32, nil, "line 1: want member=token"},
		{"no member", "=" + tok32, nil, "line 1: want member=token"},
		{"short token", "# x\nregion-norr=short", nil, "line 2: the token of member region-norr is shorter than 32"},
		{"same token twice", "a=" + tok32 + "\nb=" + tok32, nil, "line 2: member b: the same token is given twice"},
		{"limits", "a=" + tok32 + " perHour=100 quota=5000\nb = x" + tok32 + " quota=7", []string{"a", "b"}, ""},
		{"bad limit", "a=" + tok32 + " perHour=lots", nil, "line 1: perHour must be a positive number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk, err := ParseTokens(strings.NewReader(tc.file))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "short") && strings.Contains(err.Error(), "short\n") {
					t.Errorf("error quotes the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tk.Members(); strings.Join(got, ",") != strings.Join(tc.members, ",") {
				t.Errorf("members %v, want %v", got, tc.members)
			}
		})
	}
}

func TestTokenErrorsNeverQuoteTheToken(t *testing.T) {
	secret := "region-norr=sup3r-s3cret"
	_, err := ParseTokenList(secret)
	if err == nil || strings.Contains(err.Error(), "sup3r") {
		t.Errorf("error %v", err)
	}
}

func TestLookupLimits(t *testing.T) {
	tk, err := ParseTokenList("region-norr=" + tok32 + " perHour=100 quota=5000, kommun-vasterby=x" + tok32)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := tk.Lookup(tok32)
	if !ok || a.Member != "region-norr" || a.PerHour != 100 || a.Quota != 5000 || len(a.ID) != 16 || strings.Contains(tok32, a.ID) {
		t.Errorf("region-norr: %+v", a)
	}
	b, ok := tk.Lookup("x" + tok32)
	if !ok || b.PerHour != 0 || b.Quota != 0 || b.ID == a.ID {
		t.Errorf("kommun-vasterby: %+v", b)
	}
}

func TestMatch(t *testing.T) {
	tk, err := ParseTokenList("region-norr=" + tok32 + ", kommun-vasterby=x" + tok32)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token, member string
		ok            bool
	}{
		{tok32, "region-norr", true},
		{"x" + tok32, "kommun-vasterby", true},
		{tok32[:31], "", false},
		{"", "", false},
		{tok32 + " ", "", false},
	} {
		if m, ok := tk.Match(tc.token); m != tc.member || ok != tc.ok {
			t.Errorf("Match(%q) = %q, %v; want %q, %v", tc.token, m, ok, tc.member, tc.ok)
		}
	}
	if (Tokens{}).Len() != 0 {
		t.Error("zero Tokens has tokens")
	}
	if _, ok := (Tokens{}).Match(tok32); ok {
		t.Error("zero Tokens matched")
	}
}

func TestCredentialRoundTrip(t *testing.T) {
	for range 100 {
		k, cred, hash := newDevice()
		ck, ch, ok := parseCredential(cred)
		if !ok || ck != k || ch != hash {
			t.Fatalf("parseCredential(%q) = %v, %x, %v", cred, ck, ch, ok)
		}
		if id, ok := parseID(k.String()); !ok || id != k {
			t.Fatalf("parseID(%q)", k.String())
		}
	}
	k, cred, _ := newDevice()
	for _, bad := range []string{
		"", cred[:len(cred)-1], cred + "A", strings.Replace(cred, ".", "_", 1),
		strings.ToUpper(cred[:32]) + cred[32:],           // ids are lower-case hex
		cred[:33] + "!" + cred[34:],                      // not base64url
		k.String() + "." + strings.Repeat("A", 42) + "B", // non-canonical last character
	} {
		if _, _, ok := parseCredential(bad); ok {
			t.Errorf("parseCredential(%q) accepted", bad)
		}
	}
	// Every byte but a lower-case hex digit, in any place of an id, makes it no id.
	id := k.String()
	for b := range 256 {
		if strings.IndexByte("0123456789abcdef", byte(b)) >= 0 {
			continue
		}
		for _, i := range []int{0, 1, 17, idLen - 1} {
			bad := id[:i] + string([]byte{byte(b)}) + id[i+1:]
			if _, ok := parseID(bad); ok {
				t.Fatalf("parseID(%q) accepted", bad)
			}
		}
	}
	if _, ok := parseID(id[:idLen-1]); ok {
		t.Error("parseID accepted a short id")
	}
}

func TestETagMatch(t *testing.T) {
	const h = "ba86c7c7"
	for _, tc := range []struct {
		header []string
		want   bool
	}{
		{[]string{`"ba86c7c7"`}, true},
		{[]string{`W/"ba86c7c7"`}, true},
		{[]string{`"x", "ba86c7c7"`}, true},
		{[]string{`"x"`, `"ba86c7c7"`}, true},
		{[]string{`*`}, true},
		{[]string{`ba86c7c7`}, false},
		{[]string{`"ba86c7c"`}, false},
		{[]string{`""`}, false},
		{[]string{``}, false},
	} {
		if got := etagMatch(tc.header, h); got != tc.want {
			t.Errorf("etagMatch(%q) = %v", tc.header, got)
		}
	}
}

func FuzzParseCredential(f *testing.F) {
	_, cred, _ := newDevice()
	f.Add(cred)
	f.Add("")
	f.Add(strings.Repeat("a", credLen))
	f.Fuzz(func(t *testing.T, s string) {
		k, h, ok := parseCredential(s)
		if !ok {
			return
		}
		// Whatever parses is a well-formed id and a secret of 32 bytes.
		if len(s) != credLen || s[:idLen] != k.String() || h == ([sha256.Size]byte{}) {
			t.Errorf("parseCredential(%q) = %v, %x", s, k, h)
		}
	})
}

func FuzzParseTokens(f *testing.F) {
	f.Add("region-norr=" + tok32 + "\n# c\nx=y")
	f.Add("=\n=\n")
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := ParseTokens(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, m := range tk.Members() {
			if m == "" {
				t.Errorf("empty member from %q", s)
			}
		}
	})
}

func FuzzETagMatch(f *testing.F) {
	f.Add(`"abc", W/"def"`, "def")
	f.Fuzz(func(t *testing.T, header, hash string) {
		etagMatch([]string{header}, hash) // must not panic
		if hash != "" && !strings.ContainsAny(hash, `",`) && !etagMatch([]string{`"` + hash + `"`}, hash) {
			t.Errorf("%q does not match its own tag", hash)
		}
	})
}
