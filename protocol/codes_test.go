package protocol_test

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kjournal/kjournal/protocol"
)

type codesFile struct {
	Codes []struct {
		Name        string `json:"name"`
		Code        int    `json:"code"`
		Family      string `json:"family"`
		Retryable   bool   `json:"retryable"`
		Description string `json:"description"`
	} `json:"codes"`
}

func loadCodes(t *testing.T) []protocol.CodeInfo {
	t.Helper()
	raw, err := os.ReadFile("codes.json")
	if err != nil {
		t.Fatal(err)
	}
	var f codesFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var out []protocol.CodeInfo
	for _, c := range f.Codes {
		out = append(out, protocol.CodeInfo{Code: protocol.Code(c.Code), Name: c.Name, Family: c.Family, Retryable: c.Retryable, Description: c.Description})
	}
	return out
}

// TestCodes checks the three copies of the code table: codes.json, the generated Go table and the
// table in PROTOCOL.md (parsed independently of the generator).
func TestCodes(t *testing.T) {
	want := loadCodes(t)
	if got := protocol.Codes(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Go table differs from codes.json: run go generate ./protocol\n got %v\nwant %v", got, want)
	}

	md, err := os.ReadFile("PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| (\\d+) \\| `([A-Z_]+)` \\| (\\w+) \\| (true|false) \\| (.*) \\|$")
	var fromMD []protocol.CodeInfo
	for _, m := range row.FindAllStringSubmatch(string(md), -1) {
		code, _ := strconv.Atoi(m[1])
		fromMD = append(fromMD, protocol.CodeInfo{Code: protocol.Code(code), Name: m[2], Family: m[3], Retryable: m[4] == "true", Description: m[5]})
	}
	if !reflect.DeepEqual(fromMD, want) {
		t.Fatalf("PROTOCOL.md table differs from codes.json: run go generate ./protocol\n got %v\nwant %v", fromMD, want)
	}

	for _, c := range want {
		info, ok := c.Code.Info()
		if !ok || info != c || c.Code.String() != c.Name {
			t.Errorf("%d: Info %v %v", c.Code, info, ok)
		}
		// Families follow the hundreds.
		fam := map[int]string{1: "protocol", 2: "request", 3: "flow", 4: "backend", 5: "internal"}[int(c.Code)/100]
		if fam != c.Family {
			t.Errorf("%s: family %s, want %s", c.Name, c.Family, fam)
		}
		if strings.Contains(c.Description, "|") {
			t.Errorf("%s: | in description", c.Name)
		}
	}
}
