module github.com/tapagent/tapagent

go 1.26.8

require (
	github.com/BurntSushi/toml v1.5.0 // indirect
	github.com/warthog618/go-gpiocdev v0.9.1 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
	golang.org/x/sys v0.38.0 // indirect
)
