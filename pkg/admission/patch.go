package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"gomodules.xyz/jsonpatch/v2"
)

// createPatch returns the JSON patch that turns raw, the object as the API
// server sent it, into defaulted; original is raw decoded. It returns nil
// when there is nothing to change.
//
// Diffing raw against defaulted directly would be wrong twice: the Go types
// write fields raw may lack (e.g. "image": {} for an absent image, or
// "creationTimestamp": null), which would become spurious operations, and
// they drop fields they do not know (a newer CRD's), which would become
// removals. So the change is taken from two encodings of the same types,
// original and defaulted, as a merge patch, laid over raw, and only then
// diffed against raw: the operations then apply to raw as it is, e.g. an
// add of /spec/image when raw has no image yet.
func createPatch(raw []byte, original, defaulted any) ([]byte, error) {
	before, err := toJSONObject(original)
	if err != nil {
		return nil, err
	}
	after, err := toJSONObject(defaulted)
	if err != nil {
		return nil, err
	}
	change := mergeDiff(before, after)
	if len(change) == 0 {
		return nil, nil
	}

	// raw keeps its numbers as written: json.Number, not float64.
	var doc any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding the object: %w", err)
	}
	target, err := json.Marshal(mergeApply(doc, change))
	if err != nil {
		return nil, err
	}
	ops, err := jsonpatch.CreatePatch(raw, target)
	if err != nil {
		return nil, err
	}
	if len(ops) == 0 {
		return nil, nil
	}
	return json.Marshal(ops)
}

func toJSONObject(obj any) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// mergeDiff returns the JSON merge patch (RFC 7386) from before to after.
func mergeDiff(before, after map[string]any) map[string]any {
	patch := map[string]any{}
	for k, av := range after {
		bv, ok := before[k]
		if !ok {
			patch[k] = av
			continue
		}
		am, aIsObject := av.(map[string]any)
		bm, bIsObject := bv.(map[string]any)
		if aIsObject && bIsObject {
			if d := mergeDiff(bm, am); len(d) > 0 {
				patch[k] = d
			}
			continue
		}
		if !reflect.DeepEqual(av, bv) {
			patch[k] = av
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			patch[k] = nil
		}
	}
	return patch
}

// mergeApply applies the JSON merge patch (RFC 7386) patch to doc, in place
// where doc is an object, and returns the result.
func mergeApply(doc any, patch map[string]any) any {
	obj, ok := doc.(map[string]any)
	if !ok {
		obj = map[string]any{}
	}
	for k, pv := range patch {
		switch pv := pv.(type) {
		case nil:
			delete(obj, k)
		case map[string]any:
			obj[k] = mergeApply(obj[k], pv)
		default:
			obj[k] = pv
		}
	}
	return obj
}
