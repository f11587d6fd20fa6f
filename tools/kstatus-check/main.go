// kstatus-check prints the status that kstatus (sigs.k8s.io/cli-utils), the library behind Flux's
// default health checks and `kpt live status`, computes for each object file given, one line per
// file: "<file> <Status> <message>". No cluster: the files are objects as the API server returns
// them (gitops/fixtures).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		raw, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			failed = true
			continue
		}
		// Through JSON, so numbers are int64 as the API server's are.
		obj := &unstructured.Unstructured{}
		js, err := yaml.YAMLToJSON(raw)
		if err == nil {
			err = obj.UnmarshalJSON(js)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
			continue
		}
		result, err := status.Compute(obj)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
			continue
		}
		fmt.Printf("%s %s %s\n", filepath.Base(path), result.Status, result.Message)
	}
	if failed {
		os.Exit(1)
	}
}
