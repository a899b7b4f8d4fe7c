package v1alpha1_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/octorun/octorun/pkg/apis/octorun/v1alpha1"
)

// This file proves that the Go types and the generated CRDs carry the API of
// the reference (../shared/spec/api-reference.md, or $OCTORUN_API_REFERENCE):
// every type, every field's JSON name, its type and its description.

// specField is one row of a type's table in the API reference.
type specField struct {
	json string // JSON name, or an embedded type's name such as TypeMeta
	typ  string // the type column, e.g. "string", "[RunnerSpec](#runnerspec)", "[Volume](...) array"
	desc string
}

var (
	sectionRE = regexp.MustCompile(`^###\s+(\S+)\s*$`)
	rowRE     = regexp.MustCompile("^\\|\\s*`([^`]+)`\\s*(?:_(.*?)_)?\\s*\\|\\s*(.*?)\\s*\\|?\\s*$")
	linkRE    = regexp.MustCompile(`^\[([A-Za-z0-9]+)\]\([^)]*\)(\s+array)?$`)
	plainRE   = regexp.MustCompile(`^([A-Za-z0-9]+)(\s+array)?$`)
)

func TestAPIMatchesReference(t *testing.T) {
	spec := readReference(t)
	goTypes := apiTypes(t)
	crds := readCRDs(t)

	if len(spec) == 0 {
		t.Fatal("No type tables found in the API reference")
	}
	names := make([]string, 0, len(spec))
	for name := range spec {
		names = append(names, name)
	}
	sort.Strings(names)

	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			typ, ok := goTypes[name]
			if !ok {
				t.Fatalf("Type %s of the API reference has no Go type in package v1alpha1", name)
			}
			nodes := schemaNodesOf(crds, name)
			for _, f := range spec[name] {
				checkField(t, typ, nodes, f)
			}
			if len(nodes) == 0 && !strings.HasSuffix(name, "List") {
				t.Errorf("Type %s appears in no generated CRD schema", name)
			}
			if strings.HasSuffix(name, "List") {
				checkListKind(t, crds, name)
			}
		})
	}
}

// TestRunnerSpecRulesCoverEveryField: the Runner CRD's transition rules
// name every field of RunnerSpec, so a field added later is immutable in
// the API server too (the admission webhook's check walks the fields by
// reflection; the rules are written by hand in runner_types.go).
func TestRunnerSpecRulesCoverEveryField(t *testing.T) {
	spec := readCRDs(t)["Runner"].prop("spec")
	var rules []string
	for _, r := range spec.list("x-kubernetes-validations") {
		rule, _ := r.(map[string]any)["rule"].(string)
		rules = append(rules, rule)
	}
	typ := reflect.TypeFor[v1alpha1.RunnerSpec]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		covered := slices.ContainsFunc(rules, func(rule string) bool {
			return strings.Contains(rule, "self."+name+" == oldSelf."+name) && strings.Contains(rule, "oldSelf")
		})
		if !covered {
			t.Errorf("No transition rule on the Runner's spec keeps spec.%s; add one in runner_types.go", name)
		}
	}
}

func TestRunnerPhaseEnum(t *testing.T) {
	crds := readCRDs(t)
	phase := crds["Runner"].prop("status").prop("phase")
	var got []string
	for _, v := range phase.list("enum") {
		got = append(got, fmt.Sprint(v))
	}
	want := []string{
		string(v1alpha1.RunnerPhasePending), string(v1alpha1.RunnerPhaseIdle), string(v1alpha1.RunnerPhaseActive),
		string(v1alpha1.RunnerPhaseComplete), string(v1alpha1.RunnerPhaseFailed),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Runner status.phase enum = %v, want %v", got, want)
	}
}

func checkField(t *testing.T, typ reflect.Type, nodes []schemaNode, f specField) {
	switch f.json {
	case "TypeMeta":
		if sf, ok := typ.FieldByName("TypeMeta"); !ok || !sf.Anonymous || sf.Type != reflect.TypeFor[metav1.TypeMeta]() || sf.Tag.Get("json") != ",inline" {
			t.Errorf("%s does not embed metav1.TypeMeta inline", typ.Name())
		}
		return
	case "apiVersion", "kind":
		want := v1alpha1.SchemeGroupVersion.String()
		if f.json == "kind" {
			want = typ.Name()
		}
		if got := strings.Trim(f.desc, "` "); got != want {
			t.Errorf("The reference gives %s %q for %s, the Go API has %q", f.json, got, typ.Name(), want)
		}
		if _, ok := typ.FieldByName("TypeMeta"); !ok {
			t.Errorf("%s has no %s: it does not embed metav1.TypeMeta", typ.Name(), f.json)
		}
		for _, n := range nodes {
			if n.prop(f.json) == nil {
				t.Errorf("CRD schema of %s has no property %q", typ.Name(), f.json)
			}
		}
		return
	}

	sf, ok := fieldByJSONName(typ, f.json)
	if !ok {
		t.Errorf("%s has no field with JSON name %q", typ.Name(), f.json)
		return
	}
	if err := sameType(sf.Type, f.typ); err != nil {
		t.Errorf("%s.%s (JSON %q): %v", typ.Name(), sf.Name, f.json, err)
	}
	for _, n := range nodes {
		p := n.prop(f.json)
		if p == nil {
			t.Errorf("CRD schema of %s (%s) has no property %q", typ.Name(), n.path, f.json)
			continue
		}
		if f.desc == "" || strings.HasPrefix(f.desc, "Refer to Kubernetes API documentation") {
			continue
		}
		got, want := normalize(p.str("description")), normalize(f.desc)
		if !strings.Contains(got, want) {
			t.Errorf("Description of %s.%s in the CRD schema does not say what the reference says:\n got: %s\nwant: %s", n.path, f.json, got, want)
		}
	}
}

// sameType checks a Go field type against the reference's type column.
func sameType(got reflect.Type, want string) error {
	want = strings.TrimSpace(want)
	switch want {
	case "string":
		if deref(got).Kind() != reflect.String {
			return fmt.Errorf("type %v is not a string", got)
		}
		return nil
	case "integer":
		if k := deref(got).Kind(); k != reflect.Int32 && k != reflect.Int64 {
			return fmt.Errorf("type %v is not an integer", got)
		}
		return nil
	case "object (keys:string, values:string)":
		if got != reflect.TypeFor[map[string]string]() {
			return fmt.Errorf("type %v is not map[string]string", got)
		}
		return nil
	}
	m := linkRE.FindStringSubmatch(want)
	if m == nil {
		m = plainRE.FindStringSubmatch(want)
	}
	if m == nil {
		return fmt.Errorf("the reference's type %q is not understood by this test", want)
	}
	name, array := m[1], m[2] != ""
	t := got
	if array {
		if t.Kind() != reflect.Slice {
			return fmt.Errorf("type %v is not an array of %s", got, name)
		}
		t = t.Elem()
	}
	if deref(t).Name() != name {
		return fmt.Errorf("type %v is not %s", got, want)
	}
	return nil
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

func fieldByJSONName(typ reflect.Type, name string) (reflect.StructField, bool) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")[0]
		if tag == name {
			return f, true
		}
		if tag == "" && f.Anonymous {
			if inner, ok := fieldByJSONName(deref(f.Type), name); ok {
				return inner, true
			}
		}
	}
	return reflect.StructField{}, false
}

func normalize(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// apiTypes returns the named struct types of package v1alpha1 reachable from
// the kinds registered in the scheme.
func apiTypes(t *testing.T) map[string]reflect.Type {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatalf("Adding v1alpha1 to a scheme: %v", err)
	}
	pkg := reflect.TypeFor[v1alpha1.Runner]().PkgPath()
	types := map[string]reflect.Type{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			walk(typ.Elem())
			return
		}
		if typ.PkgPath() != pkg || typ.Name() == "" {
			return
		}
		if _, seen := types[typ.Name()]; seen {
			return
		}
		types[typ.Name()] = typ
		if typ.Kind() == reflect.Struct {
			for i := range typ.NumField() {
				walk(typ.Field(i).Type)
			}
		}
	}
	for _, typ := range scheme.KnownTypes(v1alpha1.SchemeGroupVersion) {
		walk(typ)
	}
	return types
}

// readReference parses the type tables of the API reference.
func readReference(t *testing.T) map[string][]specField {
	t.Helper()
	path := os.Getenv("OCTORUN_API_REFERENCE")
	if path == "" {
		path = filepath.Join(repoRoot(t), "..", "shared", "spec", "api-reference.md")
	}
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) && os.Getenv("CI") == "" {
			t.Skipf("API reference not found at %s (set OCTORUN_API_REFERENCE)", path)
		}
		t.Fatalf("Reading the API reference: %v", err)
	}
	defer f.Close()

	types := map[string][]specField{}
	var current string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := sectionRE.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if strings.HasPrefix(line, "## ") {
			current = ""
			continue
		}
		if current == "" {
			continue
		}
		if m := rowRE.FindStringSubmatch(line); m != nil {
			types[current] = append(types[current], specField{json: m[1], typ: m[2], desc: m[3]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("Reading the API reference: %v", err)
	}
	// Sections without a field table (the package heading) are not types.
	for name, fields := range types {
		if len(fields) == 0 {
			delete(types, name)
		}
	}
	return types
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("No go.mod above the test's directory")
		}
		dir = parent
	}
}

// schemaNode is a node of a CRD's OpenAPI schema.
type schemaNode struct {
	path string
	m    map[string]any
}

func (n *schemaNode) prop(name string) *schemaNode {
	if n == nil {
		return nil
	}
	props, _ := n.m["properties"].(map[string]any)
	child, ok := props[name].(map[string]any)
	if !ok {
		return nil
	}
	return &schemaNode{path: n.path + "." + name, m: child}
}

func (n *schemaNode) items() *schemaNode {
	if n == nil {
		return nil
	}
	child, ok := n.m["items"].(map[string]any)
	if !ok {
		return nil
	}
	return &schemaNode{path: n.path + "[]", m: child}
}

func (n *schemaNode) str(key string) string {
	if n == nil {
		return ""
	}
	s, _ := n.m[key].(string)
	return s
}

func (n *schemaNode) list(key string) []any {
	if n == nil {
		return nil
	}
	l, _ := n.m[key].([]any)
	return l
}

// crd is a generated CRD: its root schema and its names.
type crd struct {
	*schemaNode
	listKind string
}

// readCRDs reads manifests/crd, keyed by kind.
func readCRDs(t *testing.T) map[string]crd {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "manifests", "crd", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("No CRDs in manifests/crd (%v)", err)
	}
	crds := map[string]crd{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var obj struct {
			Kind string `json:"kind"`
			Spec struct {
				Names struct {
					Kind     string `json:"kind"`
					ListKind string `json:"listKind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &obj); err != nil {
			t.Fatalf("Parsing %s: %v", file, err)
		}
		if obj.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range obj.Spec.Versions {
			if v.Name == v1alpha1.SchemeGroupVersion.Version {
				crds[obj.Spec.Names.Kind] = crd{
					schemaNode: &schemaNode{path: obj.Spec.Names.Kind, m: v.Schema.OpenAPIV3Schema},
					listKind:   obj.Spec.Names.ListKind,
				}
			}
		}
	}
	return crds
}

// schemaNodesOf finds the schema nodes where the Go type name appears, by
// walking each CRD's kind through its Go type and its schema together.
func schemaNodesOf(crds map[string]crd, name string) []schemaNode {
	var nodes []schemaNode
	var walk func(reflect.Type, *schemaNode, int)
	walk = func(typ reflect.Type, n *schemaNode, depth int) {
		if n == nil || depth > 10 {
			return
		}
		typ = deref(typ)
		if typ.Kind() == reflect.Slice {
			walk(typ.Elem(), n.items(), depth+1)
			return
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		if typ.Name() == name {
			nodes = append(nodes, *n)
		}
		for i := range typ.NumField() {
			f := typ.Field(i)
			jsonName := strings.Split(f.Tag.Get("json"), ",")[0]
			if jsonName == "" || jsonName == "-" {
				continue
			}
			walk(f.Type, n.prop(jsonName), depth+1)
		}
	}
	kinds := []string{"Runner", "RunnerSet"}
	for _, kind := range kinds {
		c, ok := crds[kind]
		if !ok {
			continue
		}
		root := reflect.TypeFor[v1alpha1.Runner]()
		if kind == "RunnerSet" {
			root = reflect.TypeFor[v1alpha1.RunnerSet]()
		}
		walk(root, c.schemaNode, 0)
	}
	return nodes
}

func checkListKind(t *testing.T, crds map[string]crd, list string) {
	t.Helper()
	kind := strings.TrimSuffix(list, "List")
	c, ok := crds[kind]
	if !ok {
		t.Errorf("No CRD for kind %s, so none lists %s", kind, list)
		return
	}
	if c.listKind != list {
		t.Errorf("CRD of %s has listKind %q, want %q", kind, c.listKind, list)
	}
}

func TestJobAssignmentRoundTrip(t *testing.T) {
	completed := metav1.Unix(1_800_000_100, 0)
	want := v1alpha1.JobAssignment{JobID: 42, RunID: 7, AssignedAt: metav1.Unix(1_800_000_000, 0), CompletedAt: &completed}
	r := &v1alpha1.Runner{ObjectMeta: metav1.ObjectMeta{
		Name:        "r",
		Annotations: map[string]string{v1alpha1.AnnotationJobAssignment: want.String()},
	}}
	got, err := v1alpha1.JobAssignmentOf(r)
	if err != nil {
		t.Fatalf("JobAssignmentOf: %v", err)
	}
	if got == nil || got.JobID != 42 || got.RunID != 7 || !got.AssignedAt.Equal(&want.AssignedAt) || !got.CompletedAt.Equal(&completed) {
		t.Errorf("JobAssignmentOf = %+v, want %+v", got, want)
	}

	r.Annotations[v1alpha1.AnnotationJobAssignment] = "not json"
	if _, err := v1alpha1.JobAssignmentOf(r); err == nil {
		t.Error("JobAssignmentOf accepted a malformed annotation")
	}
	delete(r.Annotations, v1alpha1.AnnotationJobAssignment)
	if got, err := v1alpha1.JobAssignmentOf(r); got != nil || err != nil {
		t.Errorf("JobAssignmentOf without the annotation = %v, %v; want nil, nil", got, err)
	}
}
