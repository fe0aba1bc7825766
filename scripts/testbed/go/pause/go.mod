// The testbed node's Pod sandbox ("pause") process: no registry is reachable here, so the image is built locally.
module the0.local/testbed/pause

go 1.26.0
