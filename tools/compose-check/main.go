// compose-check loads a Compose file with compose-go, the loader Docker Compose itself uses:
// schema validation, interpolation (with the variables given as KEY=VALUE arguments), YAML
// anchors and merge keys, profiles and depends_on conditions. It prints the services it found
// and exits 1 on the first problem. The project's tests run it on docker-compose.yml because
// the test machine has no Docker engine. --env-file=PATH reads variables as `docker compose
// --env-file` (or a .env file) would.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check FILE [--env-file=PATH] [KEY=VALUE...]")
		os.Exit(2)
	}
	var env, envFiles []string
	for _, arg := range os.Args[2:] {
		if path, ok := strings.CutPrefix(arg, "--env-file="); ok {
			envFiles = append(envFiles, path)
		} else {
			env = append(env, arg)
		}
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]},
		cli.WithEnv(env),
		cli.WithEnvFiles(envFiles...),
		cli.WithDotEnv,
		cli.WithProfiles([]string{"*"}),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	var names []string
	for name, svc := range project.Services {
		var deps []string
		for dep, d := range svc.DependsOn {
			deps = append(deps, dep+":"+d.Condition)
		}
		sort.Strings(deps)
		names = append(names, fmt.Sprintf("%s image=%s command=%s depends_on=[%s]", name, svc.Image,
			strings.Join(svc.Command, " "), strings.Join(deps, ",")))
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Println(n)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compose-check:", err)
	os.Exit(1)
}
