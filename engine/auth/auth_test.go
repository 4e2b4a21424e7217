package auth

import "testing"

func TestCan(t *testing.T) {
	member := &Principal{Grants: []Grant{{Role: Operator, Member: "region-norr"}}}
	consortium := &Principal{Grants: []Grant{{Role: Viewer, Member: Consortium}}}
	admin := &Principal{Grants: []Grant{{Role: Admin, Member: Consortium}}}
	tests := []struct {
		name   string
		p      *Principal
		role   Role
		member string
		want   bool
	}{
		{"operator views own member", member, Viewer, "region-norr", true},
		{"operator operates own member", member, Operator, "region-norr", true},
		{"operator cannot approve", member, Approver, "region-norr", false},
		{"operator cannot see another member", member, Viewer, "kommun-vasterby", false},
		{"member grant is not consortium-wide", member, Viewer, Consortium, false},
		{"consortium viewer sees every member", consortium, Viewer, "kommun-vasterby", true},
		{"consortium viewer cannot operate", consortium, Operator, "kommun-vasterby", false},
		{"admin does everything", admin, Approver, Consortium, true},
		{"nil principal can nothing", nil, Viewer, "region-norr", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Can(tt.role, tt.member); got != tt.want {
				t.Errorf("Can(%s, %s) = %v, want %v", tt.role, tt.member, got, tt.want)
			}
		})
	}
}

func TestVisible(t *testing.T) {
	p := &Principal{Grants: []Grant{{Role: Viewer, Member: "b"}, {Role: Operator, Member: "a"}, {Role: Approver, Member: "b"}}}
	all, members := p.Visible()
	if all || len(members) != 2 || members[0] != "a" || members[1] != "b" {
		t.Fatalf("Visible() = %v %v, want false [a b]", all, members)
	}
	if _, err := ParseRole("root"); err == nil {
		t.Fatal("ParseRole(root) accepted an unknown role")
	}
}
